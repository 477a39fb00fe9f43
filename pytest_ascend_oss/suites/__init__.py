"""The guide's checks, one folder per suite. A suite knows nothing of pytest, of the other
suites or of the embedded server: ``run.py`` is its one orchestration, called by the CLI command
and by the acceptance test module alike, and every verdict is a ``gates.Gate``."""
