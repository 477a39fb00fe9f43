"""The guide's benchmark (性能 Benchmark): one load run per concurrency, its figures, its gates.

Used by the performance suite and by ``ascend-oss benchmark``; knows nothing of pytest.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from .loadgen import LoadResult, run_load
from .metrics.latency import run_metrics, statistic
from .server.launcher import auth_headers
from .workload import prepare

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


@dataclass(frozen=True)
class Gate:
    name: str
    measured: float
    threshold: float
    higher_is_better: bool
    unit: str
    json_path: str
    threshold_source: str

    @property
    def passed(self) -> bool:
        if self.higher_is_better:
            return self.measured > self.threshold
        return self.measured < self.threshold

    def message(self) -> str:
        op = ">" if self.higher_is_better else "<"
        return (f"{self.name} = {self.measured:.2f} {self.unit}, required {op} "
                f"{self.threshold:g} {self.unit} ({self.threshold_source}); "
                f"evidence: {self.json_path}")


def measure_level(base_url: str, model: str, concurrency: int, num_requests: int,
                  prompt_tokens: int, output_tokens: int, endpoint: str = "completions",
                  warmup: int | None = None, request_rate: float | None = None,
                  api_key: str | None = None, seed: int = 0,
                  slo_ttft_ms: float | None = None, slo_tpot_ms: float | None = None,
                  progress: Callable[[str], None] = print) -> LevelRun:
    """Prepare exact-size requests, run them at ``concurrency``, compute the figures."""
    warmup = concurrency if warmup is None else warmup
    with httpx.Client(base_url=base_url, headers=auth_headers(api_key), timeout=120) as http:
        # Distinct seeds per level: a level never reuses another level's prompts (prefix cache).
        requests = prepare(http, model, endpoint, warmup + num_requests, prompt_tokens,
                           output_tokens, seed=seed * 1000 + concurrency)
    result = asyncio.run(run_load(base_url, requests, concurrency, warmup, api_key,
                                  request_rate, seed, progress))
    metrics = run_metrics(result.records, result.duration_s, slo_ttft_ms, slo_tpot_ms)
    return LevelRun(concurrency, endpoint, result, metrics)


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
        "cached_tokens": [r.cached_tokens for r in records],
        "requested_prompt_tokens": records[0].requested_prompt_tokens if records else None,
        "requested_output_tokens": records[0].requested_output_tokens if records else None,
        "server_counters_delta": run.result.server_counters,
        "completed_ok_share": len(ok) / len(records) if records else 0.0,
    }
    return out


def write_json(run: LevelRun, model: str, base_url: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(bench_json(run, model, base_url), indent=1))
    return path


def gates(run: LevelRun, perf: dict, json_path: str, source: Callable[[str], str]) -> list[Gate]:
    """The guide's four targets for this level; throughput and QPS only at the levels the
    profile names (the guide measures throughput with its concurrency-16 run)."""
    stat = perf["statistic"]
    m = run.metrics
    out = [
        Gate(f"{stat} TTFT", statistic(m["ttft_ms"], stat), perf["ttft_max_ms"], False, "ms",
             f"{json_path}:{stat}_ttft_ms", source("ttft_max_ms")),
        Gate(f"{stat} TPOT", statistic(m["tpot_ms"], stat), perf["tpot_max_ms"], False, "ms",
             f"{json_path}:{stat}_tpot_ms", source("tpot_max_ms")),
    ]
    if run.concurrency in perf["throughput_gate_concurrency"]:
        out += [
            Gate("output throughput", m["output_throughput"], perf["output_throughput_min"], True,
                 "tokens/s", f"{json_path}:output_throughput", source("output_throughput_min")),
            Gate("QPS", m["request_throughput"], perf["qps_min"], True, "req/s",
                 f"{json_path}:request_throughput", source("qps_min")),
        ]
    return out


def markdown_table(rows: list[tuple[LevelRun, list[Gate]]], profile: str,
                   stat: str = "median") -> str:
    """The guide's 实测结果 table for the benchmark section, filled."""
    lines = [
        (f"# 性能 Benchmark: measured results (profile `{profile}`, "
         f"{time.strftime('%Y-%m-%d %H:%M')})"),
        "",
        "| 并发数 | TTFT (ms) | TPOT (ms) | Throughput (tokens/s) | QPS | n | 状态 |",
        "|---|---|---|---|---|---|---|",
    ]
    for run, level_gates in rows:
        m = run.metrics
        status = "✅ PASS" if all(g.passed for g in level_gates) else "❌ FAIL"
        failed = [g.name for g in level_gates if not g.passed]
        lines.append(
            f"| {run.concurrency} | {m['ttft_ms'][stat]:.1f} | {m['tpot_ms'][stat]:.2f} "
            f"| {m['output_throughput']:.1f} | {m['request_throughput']:.2f} "
            f"| {m['completed']}/{m['completed'] + m['failed']} "
            f"| {status}{' (' + ', '.join(failed) + ')' if failed else ''} |"
        )
    lines += ["", f"TTFT and TPOT: {stat} over the measured requests. Definitions:", ""]
    lines += [f"- **{k}**: {v}" for k, v in DEFINITIONS.items()]
    return "\n".join(lines) + "\n"
