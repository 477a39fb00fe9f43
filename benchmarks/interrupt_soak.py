"""Soak: interrupt the acceptance suite at seeded random moments and check what it leaves.

Each run starts ``pytest tests`` against the embedded default (the server startup, the
long-context cases and the performance load runs are all in reach of the chosen moments), sends
SIGINT, SIGTERM or SIGKILL at a moment drawn from the seed, then checks:

- no process of the run is left (found by a marker in the environment every child inherits,
  because the server runs in a session of its own and outlives a plain process-group kill);
- results.json, when one was written, is valid JSON and says ``"interrupted": true`` and which
  test was running;
- pytest exited (SIGINT and SIGTERM: by itself, within the bound below).

    python benchmarks/interrupt_soak.py --runs 20 --seed 2026 --output soak.json

It prints one row per run and the totals; it takes about 25 minutes on 2 cores (each run starts
an embedded server). Nothing else should run meanwhile: the moments would land elsewhere.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
EXIT_BOUND_S = 90.0  # SIGINT/SIGTERM: teardown stops the server (SIGTERM, 20 s grace, SIGKILL)
LEFTOVER_BOUND_S = 30.0  # after SIGKILL the watchdog needs a moment to take the group down
MARKER = "ASCEND_OSS_SOAK_RUN"


def marked(run_id: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.environ().get(MARKER) == run_id and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def one_run(index: int, sig: signal.Signals, moment: float, workdir: Path, suites: str) -> dict:
    run_id = f"{os.getpid()}-{index}"
    results = workdir / f"run-{index:02d}"
    argv = [sys.executable, "-m", "pytest", str(ROOT / "tests"), "-m", suites,
            "-p", "no:cacheprovider", "-q", "--results-dir", str(results),
            "--junitxml", str(results / "junit.xml"), "--ctx", "16384"]
    env = {**os.environ, MARKER: run_id}
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    finished_early = False
    while time.monotonic() - started < moment:
        if proc.poll() is not None:
            finished_early = True
            break
        time.sleep(0.1)
    if not finished_early:
        proc.send_signal(sig)
    sent = time.monotonic()
    try:
        code = proc.wait(timeout=EXIT_BOUND_S)
        hung = False
    except subprocess.TimeoutExpired:
        hung = True
        os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
    exit_s = time.monotonic() - sent
    deadline = time.monotonic() + LEFTOVER_BOUND_S
    while marked(run_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = marked(run_id)
    for p in left:  # clean up for the next run, after counting
        with contextlib.suppress(psutil.Error):
            p.kill()
    row = {"run": index, "signal": sig.name, "moment_s": round(moment, 1),
           "exit_code": code, "exit_s": round(exit_s, 1), "hung": hung,
           "finished_before_the_signal": finished_early,
           "left_running": [f"{p.pid}" for p in left]}
    path = results / "results.json"
    if not path.exists():
        row.update(results="none written yet", phase="pytest start-up")
        row["clean"] = not left and not hung
        return row
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        row.update(results=f"INVALID JSON: {exc}", phase="?", clean=False)
        return row
    server = data.get("server") or {}
    phase = "server startup" if not server.get("startup_s") else data.get("running", "?")
    row.update(results="valid", interrupted=data.get("interrupted"), phase=phase,
               running=data.get("running"))
    row["clean"] = (not left and not hung and data.get("interrupted") is True) or finished_early
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--earliest", type=float, default=5.0, help="seconds after start")
    parser.add_argument("--latest", type=float, default=200.0, help="seconds after start")
    parser.add_argument("--suites", default="long_context or performance or smoke")
    parser.add_argument("--output", default=None, help="JSON file for the rows")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    plan = [(rng.choice(SIGNALS), rng.uniform(args.earliest, args.latest))
            for _ in range(args.runs)]
    workdir = Path(tempfile.mkdtemp(prefix="soak-"))
    rows = []
    t0 = time.monotonic()
    print(f"{'run':>3} {'signal':<7} {'at s':>6} {'exit':>5} {'exit s':>6} {'left':>4} "
          f"{'results.json':<14} phase")
    for index, (sig, moment) in enumerate(plan):
        row = one_run(index, sig, moment, workdir, args.suites)
        rows.append(row)
        results = row["results"] if row["results"] != "valid" else \
            f"interrupted={row['interrupted']}"
        print(f"{index:>3} {row['signal']:<7} {row['moment_s']:>6} {row['exit_code']:>5} "
              f"{row['exit_s']:>6} {len(row['left_running']):>4} {results:<14} {row['phase']}",
              flush=True)
    wall = time.monotonic() - t0
    clean = sum(r["clean"] for r in rows)
    print(f"clean: {clean} of {len(rows)}; wall time {wall / 60:.1f} min; seed {args.seed}; "
          f"results in {workdir}")
    if args.output:
        Path(args.output).write_text(json.dumps({"seed": args.seed, "wall_s": round(wall),
                                                 "clean": clean, "rows": rows}, indent=2))
    return 0 if clean == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
