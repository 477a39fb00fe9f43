"""Pure functions from measurements to figures: no I/O, no pytest, easy to test on numbers."""
