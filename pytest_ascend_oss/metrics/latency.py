"""Latency and throughput figures of one load run (the definitions below; docs/performance.md).

- TTFT: request start -> first event carrying a generated token. ``ttft_first_chunk``: start ->
  first event with non-empty ``choices`` (what vLLM's own benchmark calls TTFT).
- E2EL: start -> last token-bearing event. Output tokens: the server's ``usage.completion_tokens``.
- TPOT = (E2EL - TTFT) / (output_tokens - 1) per request; requests with <= 1 token excluded.
- ITL per token = gap between token-bearing events / tokens in the later event.
- Throughput and QPS: over the wall time of the measured phase; failed requests are counted.
- Percentiles: numpy linear interpolation, always with n.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

STATISTICS = ("mean", "median", "p90", "p99")
P99_MIN_SAMPLES = 100  # a p99 from fewer samples is noise, and must not gate


@dataclass
class RequestRecord:
    """One request as the client saw it. Times are perf_counter_ns values."""

    start_ns: int
    queue_ns: int = 0  # waited for a concurrency slot / its scheduled time before start
    first_chunk_ns: int | None = None
    first_token_ns: int | None = None
    last_token_ns: int | None = None
    # (receive time, tokens in that event) for every token-bearing event
    token_events: list[tuple[int, int]] = field(default_factory=list)
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    requested_prompt_tokens: int | None = None
    requested_output_tokens: int | None = None
    error: str | None = None
    text: str = ""  # the answer (completions text, or chat content)
    reasoning: str = ""  # chat reasoning (gpt-oss analysis channel)
    finish_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.first_token_ns is not None

    @property
    def ttft_s(self) -> float:
        return (self.first_token_ns - self.start_ns) / 1e9

    @property
    def ttft_first_chunk_s(self) -> float:
        return (self.first_chunk_ns - self.start_ns) / 1e9

    @property
    def e2el_s(self) -> float:
        return (self.last_token_ns - self.start_ns) / 1e9

    @property
    def tpot_s(self) -> float | None:
        if not self.output_tokens or self.output_tokens <= 1:
            return None
        return (self.e2el_s - self.ttft_s) / (self.output_tokens - 1)

    def itl_s(self) -> list[float]:
        """Per-token inter-token latencies: each gap spread over the tokens it delivered."""
        out: list[float] = []
        for (prev_ns, _), (ns, tokens) in zip(self.token_events, self.token_events[1:]):
            out += [(ns - prev_ns) / 1e9 / tokens] * tokens
        return out


def summarize(values: list[float], scale: float = 1.0) -> dict:
    """mean / median / std / p90 / p99 and n, values multiplied by ``scale`` (e.g. 1000 for ms)."""
    if not values:
        return {"n": 0, "mean": None, "median": None, "std": None, "p90": None, "p99": None}
    arr = np.asarray(values, dtype=float) * scale
    return {
        "n": int(arr.size),
        "mean": float(arr.mean()),
        "median": float(np.percentile(arr, 50)),
        "std": float(arr.std()),
        "p90": float(np.percentile(arr, 90)),
        "p99": float(np.percentile(arr, 99)),
    }


def statistic(summary: dict, name: str) -> float:
    """One statistic of a summary, refusing a p99 that rests on too few samples."""
    if name not in STATISTICS:
        raise ValueError(f"unknown statistic {name!r}; choose one of {', '.join(STATISTICS)}")
    if name == "p99" and summary["n"] < P99_MIN_SAMPLES:
        raise ValueError(f"a p99 needs n >= {P99_MIN_SAMPLES} samples, this run has {summary['n']}")
    return summary[name]


def run_metrics(records: list[RequestRecord], duration_s: float,
                slo_ttft_ms: float | None = None, slo_tpot_ms: float | None = None) -> dict:
    """All figures of a measured phase that lasted ``duration_s`` of wall time."""
    ok = [r for r in records if r.ok]
    output_tokens = sum(r.output_tokens or 0 for r in ok)
    input_tokens = sum(r.prompt_tokens or 0 for r in ok)
    tpots = [r.tpot_s for r in ok if r.tpot_s is not None]
    good = [r for r in ok
            if (slo_ttft_ms is None or r.ttft_s * 1000 <= slo_ttft_ms)
            and (slo_tpot_ms is None or (r.tpot_s or 0.0) * 1000 <= slo_tpot_ms)]
    return {
        "completed": len(ok),
        "failed": len(records) - len(ok),
        "duration_s": duration_s,
        "total_input_tokens": input_tokens,
        "total_output_tokens": output_tokens,
        "request_throughput": len(ok) / duration_s if duration_s > 0 else 0.0,
        # vLLM's goodput: requests within every SLO given, per second; none without an SLO
        "request_goodput": None if slo_ttft_ms is None and slo_tpot_ms is None
        else len(good) / duration_s if duration_s > 0 else 0.0,
        "output_throughput": output_tokens / duration_s if duration_s > 0 else 0.0,
        "total_token_throughput": (input_tokens + output_tokens) / duration_s
        if duration_s > 0 else 0.0,
        "ttft_ms": summarize([r.ttft_s for r in ok], 1000),
        "ttft_first_chunk_ms": summarize([r.ttft_first_chunk_s for r in ok], 1000),
        "tpot_ms": summarize(tpots, 1000),
        "itl_ms": summarize([x for r in ok for x in r.itl_s()], 1000),
        "e2el_ms": summarize([r.e2el_s for r in ok], 1000),
        "queue_ms": summarize([r.queue_ns / 1e6 for r in records]),
        # Little's law: mean requests in flight = arrival rate x mean time in system
        "mean_in_flight": sum(r.e2el_s for r in ok) / duration_s if duration_s > 0 else 0.0,
    }
