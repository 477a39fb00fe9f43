"""What the chat endpoint measures that the completions-with-ids path does not: the same levels,
both endpoints, side by side in one run against one server (the embedded default, or
``--base-url``).

Completions requests carry the prompt as token ids (exactly N tokens, no template) and hold the
output at exactly max_tokens with ignore_eos. Chat requests carry text: the server renders the
harmony template (system message with today's date, the role headers), tokenizes, and parses the
output back into reasoning and content with the reasoning parser, and gpt-oss ends its turn on
harmony stop tokens whatever ignore_eos says, so outputs can be shorter than asked. The script
prints both endpoints' medians per level, their ratio, and the achieved output length.

Usage: .venv/bin/python benchmarks/chat_vs_completions.py [--levels 1,16] [--rounds 2]
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
           ("out tokens/req", lambda m: m["total_output_tokens"] / max(m["completed"], 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,16")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--base-url", default=None)
    args = parser.parse_args()
    perf = load(None, EMBEDDED_PROFILE).values["performance"]
    levels = [int(c) for c in args.levels.split(",")]
    started = time.monotonic()
    runs: dict[tuple[str, int], list[dict]] = {}
    with served(args.base_url) as endpoint:
        for r in range(args.rounds):
            for c in levels:
                for kind in ("completions", "chat"):  # alternated: drift hits both alike
                    run = bench.measure_level(
                        endpoint.base_url, endpoint.model, c, perf["requests_per_level"] * c,
                        perf["prompt_tokens"], perf["output_tokens"], endpoint=kind,
                        seed=2000 + r, progress=lambda m: None)
                    runs.setdefault((kind, c), []).append(run.metrics)
                    print(f"round {r + 1} c={c:<3} {kind:<11} " + "  ".join(
                        f"{name} {get(run.metrics):8.2f}" for name, get in FIGURES)
                          + f"  failed {run.metrics['failed']}", flush=True)
    print("\n| c | endpoint | " + " | ".join(name for name, _ in FIGURES) + " |")
    print("|---|---|" + "---|" * len(FIGURES))
    for c in levels:
        for kind in ("completions", "chat"):
            cells = [f"{statistics.median(get(m) for m in runs[(kind, c)]):.2f}"
                     for _, get in FIGURES]
            print(f"| {c} | {kind} | " + " | ".join(cells) + " |")
        ratio = [statistics.median(get(m) for m in runs[("chat", c)])
                 / statistics.median(get(m) for m in runs[("completions", c)])
                 for _, get in FIGURES]
        print(f"| {c} | chat / completions | " + " | ".join(f"x{x:.2f}" for x in ratio) + " |")
    print(f"\n{args.rounds} rounds, {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
