"""Reading a pytest run's console output in the project's own tests."""

from __future__ import annotations

import re

# pytest's recap section. Outside CI it truncates each line to the terminal width; under CI
# (the CI or BUILD_NUMBER variable set) it prints every message whole, so a count of how often a
# story is told must stop here or it counts the recap too and differs between a laptop and CI.
_RECAP = re.compile(r"^=+ short test summary info =+$", re.MULTILINE)


def before_recap(text: str) -> str:
    """The output up to pytest's short test summary: the tests' own reports."""
    found = _RECAP.search(text)
    return text[: found.start()] if found else text
