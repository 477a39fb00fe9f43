"""One cell run of the self-check: the acceptance suites in a pytest process of their own,
against one URL (the healthy server, a fault proxy or a broken variant), read back from that
run's results.json as one status per criterion.

A criterion is a test function of tests/ (``suite::test_name``); the performance targets are
one criterion per gate (``performance::test_guide_target[TTFT]``), since a slow first token and
a slow decode are different faults. Its status over its parametrized cases: ``failed`` if any
case failed or errored, ``passed`` if every case that applies passed, ``not applicable`` if
none applies, ``not measured`` otherwise (skipped for want of evidence, or not run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..secret import Secret

FAILED, PASSED, NOT_APPLICABLE, NOT_MEASURED = "failed", "passed", "not applicable", "not measured"
_SUITE_OF_FILE = {"test_smoke.py": "smoke", "test_precision.py": "precision",
                  "test_long_context.py": "long_context", "test_performance.py": "performance",
                  "test_features.py": "features", "test_accuracy.py": "accuracy"}


# Features checks a cell runs only where it has what they need (``judged``), deselected
# elsewhere: the variant rows (graph/eager, TP/PP/EP, chunked prefill) need a variant server,
# which an attached child gets only from a --<variant>-url; the dtype needs the launch log
# (--server-log); the 131K row runs the guide's 131,072-token grid (minutes), so only the
# cells that judge it do.
UNJUDGED_FEATURES = ("test_graph_mode", "test_parallel_variant_agrees",
                     "test_served_dtype_is_bf16", "test_long_prompt_under_chunked_prefill",
                     "test_context_131k")


def criterion(nodeid: str) -> str | None:
    """``tests/test_performance.py::test_guide_target[c=16-TTFT]`` ->
    ``performance::test_guide_target[TTFT]``; None outside the five suites."""
    file, _, name = nodeid.partition("::")
    suite = _SUITE_OF_FILE.get(file.rsplit("/", 1)[-1])
    if suite is None:
        return None
    function, _, params = name.partition("[")
    if function == "test_guide_target":
        return f"{suite}::{function}[{params.rstrip(']').split('-', 1)[1]}]"
    return f"{suite}::{function}"


def observe(results: dict) -> dict[str, str]:
    """Status per criterion from a results.json's ``tests``."""
    seen: dict[str, list[str]] = {}
    for nodeid, test in results.get("tests", {}).items():
        name = criterion(nodeid)
        if name is not None:
            seen.setdefault(name, []).append(test.get("outcome", ""))
    status = {}
    for name, outcomes in seen.items():
        applying = [o for o in outcomes if o != "not_applicable"]
        if any(o in ("failed", "error") for o in outcomes):
            status[name] = FAILED
        elif not applying:
            status[name] = NOT_APPLICABLE
        elif all(o == "passed" for o in applying):
            status[name] = PASSED
        else:
            status[name] = NOT_MEASURED
    return status


@dataclass
class Cell:
    """What one run showed: ``observed`` status per criterion, and how the run went."""

    fault: str                       # "healthy" for the server as it is
    url: str
    suites: list[str]
    observed: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    wall_s: float = 0.0
    results_dir: str = ""
    problem: str = ""                # why the run gave no results, if it did not

    def to_json(self) -> dict:
        return {"fault": self.fault, "suites": self.suites, "observed": self.observed,
                "exit_code": self.exit_code, "wall_s": round(self.wall_s, 1),
                "results_dir": self.results_dir, "problem": self.problem}


def run(fault: str, url: str, suites: list[str], tests_dir: Path, results_dir: Path,
        options: list[str], api_key: Secret | None, progress=print,
        judged: tuple[str, ...] = (), only: tuple[str, ...] = ()) -> Cell:
    """The suites against ``url`` in a child pytest; ``options`` are the sized and forwarded
    plugin flags; ``judged``: the UNJUDGED_FEATURES this cell runs; ``only``: what to run
    instead of every suite, each a suite (``long_context``) or one test (``features::test``).
    The child's output goes to ``results_dir/pytest.log``: the evidence of the cell, read by a
    person when a cell surprises."""
    results_dir.mkdir(parents=True, exist_ok=True)
    files = {suite: file for file, suite in _SUITE_OF_FILE.items()}
    paths = []
    for name in only:
        suite, _, test = name.partition("::")
        paths.append(str(tests_dir / files[suite]) + (f"::{test}" if test else ""))
        judged = (*judged, test) if test else judged
    paths = paths or [str(tests_dir)]
    # pytest's --deselect takes node id prefixes: "test_graph_mode" is both graph rows
    deselected = [test for test in UNJUDGED_FEATURES
                  if not any(name.startswith(test) for name in judged)]
    argv = [sys.executable, "-m", "pytest", *paths, "-p", "no:cacheprovider",
            "--rootdir", str(tests_dir.parent), "-m", " or ".join(suites), "--base-url", url,
            "--results-dir", str(results_dir), "--junitxml", str(results_dir / "junit.xml"),
            "-q", *options,
            *(arg for test in deselected
              for arg in ("--deselect", f"{tests_dir.name}/test_features.py::{test}"))]
    # Resolved settings are passed as flags; the environment's ASCEND_OSS_* would second-guess
    # them (and a server command there would conflict with --base-url). The key goes by
    # environment, never on a command line another user can read in ps.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASCEND_OSS_")}
    if api_key is not None:
        env["ASCEND_OSS_API_KEY"] = api_key.reveal()
    cell = Cell(fault, url, suites, results_dir=str(results_dir))
    progress(f"self-check: {fault}: {' + '.join(suites)} against {url}")
    started = time.monotonic()
    with open(results_dir / "pytest.log", "w", encoding="utf-8") as log:
        # In the user's working directory: the paths they gave (and the results directory)
        # are relative to it, wherever the suite is installed.
        done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    cell.wall_s, cell.exit_code = time.monotonic() - started, done.returncode
    try:
        cell.observed = observe(json.loads((results_dir / "results.json").read_text()))
    except (OSError, ValueError) as exc:
        cell.problem = f"the run left no readable results.json ({exc}); see {log.name}"
    if not cell.observed and not cell.problem:
        cell.problem = f"the run judged no criterion (exit {done.returncode}); see {log.name}"
    progress(f"self-check: {fault}: {sum(s == FAILED for s in cell.observed.values())} of "
             f"{len(cell.observed)} criteria failed in {cell.wall_s:.0f} s")
    return cell
