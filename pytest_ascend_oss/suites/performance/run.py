"""The performance suite's one orchestration: levels measured once each, on first use, their
figures written as they come, and the guide's four targets as gates.

``ascend-oss benchmark`` runs one level with ``benchmark``; the acceptance tests use
``PerformanceRun`` for the profile's levels. Both write the same JSON through ``bench.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...gates import Gate
from ...metrics.latency import statistic
from ...report.files import write_text_atomic
from . import bench, report
from .bench import LevelRun

# The suite's gates by the short names the tests and the guide use.
GATE_NAMES = ("TTFT", "TPOT", "output throughput", "QPS")


def benchmark(base_url: str, model: str, concurrency: int, num_requests: int,
              prompt_tokens: int, output_tokens: int, output: Path, *, endpoint: str = "completions",
              warmup: int | None = None, request_rate: float | None = None,
              api_key: str | None = None, slo_ttft_ms: float | None = None,
              slo_tpot_ms: float | None = None, progress: Callable[[str], None] = print
              ) -> LevelRun:
    """One level, measured and written to ``output`` (vllm-bench JSON)."""
    run = bench.measure_level(base_url, model, concurrency, num_requests, prompt_tokens,
                              output_tokens, endpoint=endpoint, warmup=warmup,
                              request_rate=request_rate, api_key=api_key,
                              slo_ttft_ms=slo_ttft_ms, slo_tpot_ms=slo_tpot_ms,
                              progress=progress)
    bench.write_json(run, model, base_url, output)
    return run


def gates(run: LevelRun, limits: dict, json_path: str, source: Callable[[str], str]
          ) -> list[Gate]:
    """The guide's four targets for this level; throughput and QPS only at the levels the
    profile names (the guide measures throughput with its concurrency-16 run)."""
    stat = limits["statistic"]
    m = run.metrics
    out = [
        Gate(f"{stat} TTFT", statistic(m["ttft_ms"], stat), "<", limits["ttft_max_ms"], "ms",
             f"{json_path}:{stat}_ttft_ms", source("ttft_max_ms")),
        Gate(f"{stat} TPOT", statistic(m["tpot_ms"], stat), "<", limits["tpot_max_ms"], "ms",
             f"{json_path}:{stat}_tpot_ms", source("tpot_max_ms")),
    ]
    if run.concurrency in limits["throughput_gate_concurrency"]:
        out += [
            Gate("output throughput", m["output_throughput"], ">",
                 limits["output_throughput_min"], "tokens/s", f"{json_path}:output_throughput",
                 source("output_throughput_min")),
            Gate("QPS", m["request_throughput"], ">", limits["qps_min"], "req/s",
                 f"{json_path}:request_throughput", source("qps_min")),
        ]
    return out


class PerformanceRun:
    """The profile's levels against one server. ``limits`` is the profile's performance table,
    ``source(key)`` names where a bound came from; reports go to ``out_dir``
    (``performance/c<N>.json``, ``performance.md``)."""

    def __init__(self, base_url: str, model: str, limits: dict, source: Callable[[str], str],
                 out_dir: Path, profile: str, api_key: str | None = None,
                 progress: Callable[[str], None] = print):
        self.base_url, self.model, self.limits, self.source = base_url, model, limits, source
        self.out_dir, self.profile = Path(out_dir), profile
        self.api_key, self.progress = api_key, progress
        self._runs: dict[int, LevelRun] = {}

    def json_path(self, concurrency: int) -> Path:
        return self.out_dir / "performance" / f"c{concurrency}.json"

    def level(self, concurrency: int) -> LevelRun:
        if concurrency not in self._runs:
            lim = self.limits
            self._runs[concurrency] = benchmark(
                self.base_url, self.model, concurrency,
                num_requests=lim["requests_per_level"] * concurrency,
                prompt_tokens=lim["prompt_tokens"], output_tokens=lim["output_tokens"],
                output=self.json_path(concurrency), api_key=self.api_key,
                slo_ttft_ms=lim["ttft_max_ms"], slo_tpot_ms=lim["tpot_max_ms"],
                progress=self.progress)
            rows = [(run, self.gates(c)) for c, run in sorted(self._runs.items())]
            write_text_atomic(self.out_dir / "performance.md",
                              report.markdown_table(rows, self.profile, lim["statistic"]))
        return self._runs[concurrency]

    def gates(self, concurrency: int) -> list[Gate]:
        return gates(self.level(concurrency), self.limits, str(self.json_path(concurrency)),
                     self.source)

    def gate(self, concurrency: int, name: str) -> Gate | None:
        """The gate ``name`` (one of GATE_NAMES) at this level, or None where it is not gated."""
        found = [g for g in self.gates(concurrency) if g.name.endswith(name)]
        return found[0] if found else None
