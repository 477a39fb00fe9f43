"""Long-context TTFT of the embedded server, length by length, over several rounds: the figures
the `cpu-canary` profile's `ttft_max_s_by_length` bounds are set from (docs/calibration.md).

Each round runs one needle case per length (a fresh random code at 50 % depth, its own haystack,
so no prefix-cache hit), in increasing length, as the suite does. Run it on a quiet box: the
figures are the box's prefill speed. Prints every TTFT, the median per length, and the bound a
given multiple of the median would set.
Usage: .venv/bin/python benchmarks/long_context_ttft.py [--rounds 3] [--lengths 1024,...]
       [--base-url URL (else the embedded server is started and stopped)] [--multiple 2.0]
"""

from __future__ import annotations

import argparse
import statistics
import time

from served import served

from pytest_ascend_oss.suites.long_context.cases import Case, NeedleSettings, parse_int_list
from pytest_ascend_oss.suites.long_context.runner import Runner


def measure(base_url: str, model: str, lengths: list[int], rounds: int) -> dict[int, list]:
    ttfts: dict[int, list[float]] = {n: [] for n in lengths}
    runner = Runner(base_url, model, NeedleSettings())
    try:
        for r in range(rounds):
            for n in lengths:
                outcome = runner.run(Case("random", n, 50, seed=r))
                if outcome.ttft_s is None or not outcome.passed:
                    raise SystemExit(f"round {r}, {n} tokens: {outcome.verdict}")
                ttfts[n].append(outcome.ttft_s)
                print(f"round {r + 1}/{rounds} {n:>7} tokens: TTFT {outcome.ttft_s:6.2f} s",
                      flush=True)
    finally:
        runner.close()
    return ttfts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lengths", default="1024,16384,32768,49152,65536,98304,131072")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--multiple", type=float, default=2.0)
    args = parser.parse_args()
    lengths = parse_int_list(args.lengths, "--lengths")
    started = time.monotonic()
    with served(args.base_url) as endpoint:
        ttfts = measure(endpoint.base_url, endpoint.model, lengths, args.rounds)
    print(f"\n| length | TTFT per round (s) | median (s) | {args.multiple:g} x median (s) |")
    print("|---|---|---|---|")
    for n, values in ttfts.items():
        median = statistics.median(values)
        print(f"| {n} | {', '.join(f'{v:.2f}' for v in values)} | {median:.2f} | "
              f"{args.multiple * median:.2f} |")
    print(f"\n{args.rounds} rounds, {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
