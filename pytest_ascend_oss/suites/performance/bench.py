"""One load run at one concurrency and its figures, in ``vllm bench serve --save-result`` form.

The gates and the suite's levels are ``run.py``; the guide's table is ``report.py``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...load import sizing
from ...load.loadgen import LoadResult
from ...load.run import run
from ...load.workload import prepare, words_text
from ...metrics.latency import run_metrics
from ...report.files import write_json_atomic
from ...transport.http import sync_client

DEFINITIONS = {
    "ttft": "request start -> first SSE event carrying a generated token",
    "ttft_first_chunk": "request start -> first SSE event with non-empty choices (vLLM's TTFT)",
    "tpot": "(E2EL - TTFT) / (output_tokens - 1), requests with <= 1 token excluded",
    "itl": "gap between token-bearing events / tokens in the later event",
    "e2el": "request start -> last token-bearing event",
    "output_tokens": "usage.completion_tokens (continuous usage stats), never re-tokenized",
    "throughput": "sum of output tokens / wall time of the measured phase (warm-up excluded)",
    "percentiles": "numpy linear interpolation",
}


@dataclass
class LevelRun:
    concurrency: int
    endpoint: str
    result: LoadResult
    metrics: dict
    seed: int = 0        # the prompts' seed: the same seed makes the same prompts again
    sizing: str = "the server's /tokenize (exact)"  # who counted the prompts' tokens


def fresh_seed() -> int:
    """A seed no earlier run used. A server that served a run's prompts keeps them in its
    prefix cache, so a second run with the same prompts against the same server (an attached
    server checked twice; the self-check's runs behind its proxy) is served from cache and
    fails the prefix-cache validity check: measured, 3,584 of 3,584 prompt tokens cached at
    c=1. Each run draws its own; pass ``seed`` to repeat one exactly."""
    return random.SystemRandom().randrange(1, 2**31)


def measure_level(base_url: str, model: str, concurrency: int, num_requests: int,
                  prompt_tokens: int, output_tokens: int, endpoint: str = "completions",
                  warmup: int | None = None, request_rate: float | None = None,
                  api_key: str | None = None, seed: int | None = None,
                  slo_ttft_ms: float | None = None, slo_tpot_ms: float | None = None,
                  workers: int | None = None, tokenizer: Path | None = None,
                  progress: Callable[[str], None] = print) -> LevelRun:
    """Prepare exact-size requests, run them at ``concurrency`` (from ``workers`` processes;
    None: chosen from the concurrency and the cores), compute the figures. ``tokenizer``: a
    local tokenizer directory for a server without /tokenize (``load/sizing.py``)."""
    warmup = concurrency if warmup is None else warmup
    seed = fresh_seed() if seed is None else seed
    with sync_client(base_url, api_key) as http:
        # Distinct seeds per level: a level never reuses another level's prompts (prefix cache).
        sizer = sizing.choose(http, model, tokenizer, words_text)
        if not isinstance(sizer, sizing.ServerTokenizer):
            progress(f"c={concurrency}: prompts sized by {sizer.description}")
        requests = prepare(http, model, endpoint, warmup + num_requests, prompt_tokens,
                           output_tokens, seed=seed * 1000 + concurrency, sizer=sizer)
    result = run(base_url, requests, concurrency, warmup, api_key, request_rate, seed,
                         workers, progress)
    metrics = run_metrics(result.records, result.duration_s, slo_ttft_ms, slo_tpot_ms)
    return LevelRun(concurrency, endpoint, result, metrics, seed, sizer.description)


def bench_json(run: LevelRun, model: str, base_url: str) -> dict:
    """The run in ``vllm bench serve --save-result`` form (same keys, same units: seconds in
    lists, milliseconds in ``*_ms``), our own fields under ``ascend_oss``."""
    records, m = run.result.records, run.metrics
    ok = [r for r in records if r.ok]
    out = {
        "date": run.result.started,
        "endpoint_type": f"openai-{run.endpoint}" if run.endpoint == "chat" else "openai",
        "backend": "openai-chat" if run.endpoint == "chat" else "openai",
        "label": "pytest-ascend-oss",
        "model_id": model,
        "tokenizer_id": model,
        "num_prompts": len(records),
        "request_rate": run.result.request_rate or "inf",
        "burstiness": 1.0,
        "max_concurrency": run.concurrency,
        "duration": m["duration_s"],
        "completed": m["completed"],
        "failed": m["failed"],
        "total_input_tokens": m["total_input_tokens"],
        "total_output_tokens": m["total_output_tokens"],
        "request_throughput": m["request_throughput"],
        "request_goodput": m["request_goodput"],
        "output_throughput": m["output_throughput"],
        "total_token_throughput": m["total_token_throughput"],
        "input_lens": [r.prompt_tokens for r in records],
        "output_lens": [r.output_tokens or 0 for r in records],
        "ttfts": [r.ttft_s if r.ok else 0.0 for r in records],
        "itls": [r.itl_s() if r.ok else [] for r in records],
        "latencies": [r.e2el_s if r.ok else 0.0 for r in records],
        "queue_times": [r.queue_ns / 1e9 for r in records],
        "generated_texts": [r.text for r in records],
        "errors": [r.error or "" for r in records],
    }
    for name in ("ttft", "tpot", "itl", "e2el"):
        summary = m[f"{name}_ms"]
        out[f"mean_{name}_ms"] = summary["mean"]
        out[f"median_{name}_ms"] = summary["median"]
        out[f"std_{name}_ms"] = summary["std"]
        out[f"p90_{name}_ms"] = summary["p90"]
        out[f"p99_{name}_ms"] = summary["p99"]
    out["ascend_oss"] = {
        "definitions": DEFINITIONS,
        "base_url": base_url,
        "n": {k: m[k]["n"] for k in ("ttft_ms", "tpot_ms", "itl_ms", "e2el_ms")},
        "ttft_first_chunk_ms": m["ttft_first_chunk_ms"],
        "queue_ms": m["queue_ms"],
        "mean_in_flight": m["mean_in_flight"],
        "warmup_requests": len(run.result.warmup_records),
        "seed": run.seed,
        "prompt_sizing": run.sizing,
        "load_processes": run.result.workers,
        "event_loop": run.result.loop,
        "cached_tokens": [r.cached_tokens for r in records],
        "requested_prompt_tokens": records[0].requested_prompt_tokens if records else None,
        "requested_output_tokens": records[0].requested_output_tokens if records else None,
        "server_counters_delta": run.result.server_counters,
        "completed_ok_share": len(ok) / len(records) if records else 0.0,
    }
    return out


def write_json(run: LevelRun, model: str, base_url: str, path: Path) -> Path:
    return write_json_atomic(path, bench_json(run, model, base_url))
