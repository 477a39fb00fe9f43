"""What a run leaves behind: results.json, files written so that a reader never sees half of
one, and the plots."""
