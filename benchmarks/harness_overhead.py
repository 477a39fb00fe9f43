"""How much CPU the load generator spends per streamed SSE event, and how late it stamps events.

Runs the harness against testing/fakes/synthetic_stream.py (known timing) and prints the client
process's CPU seconds per received event, and the measured-minus-true TTFT/TPOT at each
concurrency. Usage: .venv/bin/python benchmarks/harness_overhead.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "testing"))

from fakes import synthetic_stream

from pytest_ascend_oss.load.run import run
from pytest_ascend_oss.load.workload import PreparedRequest
from pytest_ascend_oss.metrics.latency import run_metrics

TTFT_MS, TOKEN_MS, TOKENS = 200.0, 20.0, 32


def main() -> None:
    with synthetic_stream.serving(TTFT_MS, TOKEN_MS) as url:
        body = {"model": "synthetic", "prompt": [1, 2, 3], "max_tokens": TOKENS}
        print(f"truth: TTFT {TTFT_MS} ms, TPOT/ITL {TOKEN_MS} ms, {TOKENS} tokens per request")
        print("| c | requests | events | CPU us/event | TTFT median (ms) | TPOT median (ms) "
              "| ITL median (ms) |")
        print("|---|---|---|---|---|---|---|")
        for c in (1, 4, 16):
            reqs = [PreparedRequest("/v1/completions", body, 3, TOKENS)] * (c * 5)
            cpu0 = time.process_time()
            result = run(url, reqs, c, warmup=c, progress=lambda m: None)
            cpu = time.process_time() - cpu0
            events = sum(len(r.token_events) + 2 for r in result.records + result.warmup_records)
            m = run_metrics(result.records, result.duration_s)
            print(f"| {c} | {len(result.records)} | {events} | {cpu / events * 1e6:.0f} "
                  f"| {m['ttft_ms']['median']:.2f} | {m['tpot_ms']['median']:.3f} "
                  f"| {m['itl_ms']['median']:.3f} |")


if __name__ == "__main__":
    main()
