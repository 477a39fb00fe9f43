"""Each test's measured figures in JUnit XML, in a form the dashboards' schema accepts.

pytest's default family (xunit2) follows the Jenkins xUnit schema (``junit-10.xsd``, which
pytest's own tests validate against): a ``testcase`` may hold ``skipped``, ``error``,
``failure``, ``system-out`` and ``system-err``, no ``properties``. Jenkins' xUnit plugin
validates and refuses files with per-test properties, so under xunit2 the figures go into the
testcase's ``system-out``, one ``name=value`` line each after a header line; under xunit1
(``-o junit_family=xunit1``) they stay properties, which that family allows.

Written here because pytest offers per-test output only as captured stdout (``junit_logging``),
which would mix the figures with whatever the test printed.
"""

from __future__ import annotations

HEADER = "ascend-oss figures (name=value):"


def figure_lines(figures: list[tuple[str, object]]) -> str:
    """The ``system-out`` text: the header, then one line per figure (newlines escaped, so a
    line is always one figure)."""
    lines = [HEADER]
    for name, value in figures:
        text = str(value).replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(f"{name}={text}")
    return "\n".join(lines) + "\n"


def read_figures(system_out: str) -> dict[str, str]:
    """The figures of one testcase's ``system-out`` (what a CI script reading our JUnit does):
    values as text, the last of a repeated name winning."""
    figures: dict[str, str] = {}
    lines = system_out.splitlines()
    if HEADER not in lines:
        return figures
    for line in lines[lines.index(HEADER) + 1:]:
        name, sep, value = line.partition("=")
        if not sep:
            break
        figures[name] = _unescape(value)
    return figures


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append("\n" if text[i + 1] == "n" else text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)
