"""Healthy runs of the acceptance suite in a row: how many failed, and for every gated figure
the closest it came to its bound across the runs (is any bound a coin toss on this box?).

    python benchmarks/acceptance_margins.py --runs 5 --output margins.json [-- PYTEST ARGS]

Each run is `pytest tests` against the embedded default (as scripts/acceptance.sh, which also
installs), in its own results directory; the figures are read back from each results.json's
measurements (value, and the bound as "< 75" / ">= 0.98"). Headroom is the distance to the
bound as a share of it: (bound - value) / bound for an upper bound, (value - bound) / bound for
a lower one; 0 is on the bound, negative is a failure. About 7 minutes per run on 2 cores;
nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOUND = re.compile(r"^(<=|>=|<|>)\s*(-?[0-9.eE+]+)$")


def headroom(value: float, threshold: str) -> float | None:
    found = BOUND.match(str(threshold).strip())
    if found is None or value is None:
        return None
    op, bound = found.group(1), float(found.group(2))
    if bound == 0:
        return None  # "= 0 failures" style bounds have no scale; a failure shows as a failure
    return (bound - value) / abs(bound) if op.startswith("<") else (value - bound) / abs(bound)


def figures(results: dict) -> dict[str, tuple[float, str, float]]:
    """``test id / measurement -> (value, threshold, headroom)`` for every gated figure."""
    out = {}
    for nodeid, test in results.get("tests", {}).items():
        for name, m in (test.get("measurements") or {}).items():
            room = headroom(m.get("value"), m.get("threshold")) if isinstance(
                m.get("value"), (int, float)) else None
            if room is not None:
                out[f"{nodeid.split('/')[-1]} / {name}"] = (m["value"], m["threshold"], room)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=Path("margins.json"))
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep each run's results directory here (default: a temp dir)")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="margins-"))
    runs = []
    for i in range(args.runs):
        results_dir = base / f"run-{i + 1}"
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "tests"), "-q",
                               "-p", "no:cacheprovider", "--results-dir", str(results_dir),
                               *[a for a in args.pytest_args if a != "--"]],
                              cwd=ROOT, capture_output=True, text=True, check=False)
        data = json.loads((results_dir / "results.json").read_text())
        outcomes = [t["outcome"] for t in data["tests"].values()]
        run = {"exit_code": done.returncode, "wall_s": round(time.monotonic() - started, 1),
               "failed": sum(o in ("failed", "error") for o in outcomes),
               "passed": outcomes.count("passed"), "verdicts": data.get("verdicts"),
               "figures": figures(data)}
        runs.append(run)
        print(f"run {i + 1}: exit {run['exit_code']}, {run['passed']} passed, {run['failed']} "
              f"failed, {run['wall_s']:.0f} s, verdicts {run['verdicts']}", flush=True)
    closest = {}
    for run in runs:
        for key, (value, threshold, room) in run["figures"].items():
            if key not in closest or room < closest[key][2]:
                closest[key] = (value, threshold, room)
    print(f"\n{sum(r['failed'] for r in runs)} failures in {len(runs)} runs; closest headroom "
          "per gated figure, tightest first:")
    for key, (value, threshold, room) in sorted(closest.items(), key=lambda kv: kv[1][2])[:25]:
        print(f"  {100 * room:6.1f} %  {key}: {value:.4g} (bound {threshold})")
    args.output.write_text(json.dumps({"runs": runs, "closest": closest}, indent=1))
    print(f"{len(closest)} gated figures; all in {args.output}")
    return 0 if all(r["failed"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
