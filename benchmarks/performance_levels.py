"""The performance suite's levels against the embedded server, several rounds in one run: the
figures the `cpu-canary` profile's speed bounds are set from (docs/calibration.md).

Each round measures every level once, as the suite does (the profile's prompt and output sizes,
requests_per_level x c requests, warm-up excluded, fresh prompts per round so the prefix cache
never helps). Prints every round's medians and, per level, the median over rounds.
Usage: .venv/bin/python benchmarks/performance_levels.py [--rounds 3] [--base-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import time

from served import served

from pytest_ascend_oss.suites.performance import bench
from pytest_ascend_oss.thresholds import EMBEDDED_PROFILE, load

FIGURES = (("TTFT ms", lambda m: m["ttft_ms"]["median"]),
           ("TPOT ms", lambda m: m["tpot_ms"]["median"]),
           ("tokens/s", lambda m: m["output_throughput"]),
           ("req/s", lambda m: m["request_throughput"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--profile", default=EMBEDDED_PROFILE)
    args = parser.parse_args()
    perf = load(None, args.profile).values["performance"]
    started = time.monotonic()
    results: dict[int, list[dict]] = {c: [] for c in perf["concurrency"]}
    with served(args.base_url) as endpoint:
        for r in range(args.rounds):
            for c in perf["concurrency"]:
                run = bench.measure_level(
                    endpoint.base_url, endpoint.model, c, perf["requests_per_level"] * c,
                    perf["prompt_tokens"], perf["output_tokens"], seed=1000 + r,
                    progress=lambda m: None)
                if run.metrics["failed"]:
                    raise SystemExit(f"round {r + 1}, c={c}: {run.metrics['failed']} failed")
                results[c].append(run.metrics)
                print(f"round {r + 1}/{args.rounds} c={c:<3} " + "  ".join(
                    f"{name} {get(run.metrics):8.2f}" for name, get in FIGURES), flush=True)
    print("\n| c | " + " | ".join(f"{name} (median of rounds; range)" for name, _ in FIGURES)
          + " |")
    print("|---|" + "---|" * len(FIGURES))
    for c, runs in results.items():
        cells = []
        for _, get in FIGURES:
            values = [get(m) for m in runs]
            cells.append(f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})")
        print(f"| {c} | " + " | ".join(cells) + " |")
    print(f"\n{args.rounds} rounds, {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
