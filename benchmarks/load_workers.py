"""Timing error at hundreds and thousands of streams, from one load process and from several.

Against testing/fakes/synthetic_stream.py (a server of known timing): closed loop, warm-up of
one wave, then the measured requests; output lengths vary from 24 to 40 tokens (a fixed length
keeps every wave in lock-step, and each wave's thousand simultaneous first requests measure the
server's accept queue, not the client). Each configuration runs with one process and with
--workers, alternating, in one run; the synthetic server's /stats says whether it kept its own
truth (what it really sent, and how late against its deadlines) before the client is judged.

On a 2-core box the server shares the CPU with the load: its speed is chosen so that it stays
on time (late p99 in the table). Usage: .venv/bin/python benchmarks/load_workers.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "testing"))

from fakes import synthetic_stream

# (concurrency, true TTFT ms, true token interval ms, measured requests)
CONFIGS = ((256, 200.0, 40.0, 1024), (1024, 500.0, 100.0, 3072), (1024, 500.0, 50.0, 3072))


def measure(c: int, ttft: float, token: float, n: int, workers: int) -> dict:
    from pytest_ascend_oss.load.run import run
    from pytest_ascend_oss.load.workload import PreparedRequest
    from pytest_ascend_oss.metrics.latency import run_metrics

    with synthetic_stream.serving(ttft, token) as url:
        load = [PreparedRequest("/v1/completions", {"model": "s", "prompt": [1, 2, 3],
                                                    "max_tokens": 24 + i % 17}, 3, 24 + i % 17)
                for i in range(n + c)]
        result = run(url, load, c, warmup=c, workers=workers, progress=lambda m: None)
        m = run_metrics(result.records, result.duration_s)
        truth = httpx.get(f"{url}/stats").json()
    return {"workers": result.workers, "failed": m["failed"], "ttft": m["ttft_ms"]["median"],
            "tpot": m["tpot_ms"]["median"], "server": truth}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print("| c | truth TTFT / TPOT ms | processes | round | server sent TTFT / TPOT ms "
          "| server late p99 ms | measured TTFT ms | error | measured TPOT ms | error |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c, ttft, token, n in CONFIGS:
        for round_ in range(1, args.rounds + 1):
            for workers in (1, args.workers):
                r = measure(c, ttft, token, n, workers)
                s = r["server"]
                print(f"| {c} | {ttft:g} / {token:g} | {r['workers']} | {round_} "
                      f"| {s['ttft_ms_median']:.1f} / {s['tpot_ms_median']:.2f} "
                      f"| {s['late_ms_p99']:.1f} | {r['ttft']:.1f} "
                      f"| {100 * (r['ttft'] / ttft - 1):+.1f} % | {r['tpot']:.2f} "
                      f"| {100 * (r['tpot'] / token - 1):+.1f} % |", flush=True)


if __name__ == "__main__":
    main()
