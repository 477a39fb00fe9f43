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
from ...report.files import write_json_atomic, write_text_atomic
from . import bench, capacity, report
from .bench import LevelRun

# The suite's gates by the short names the tests and the guide use.
GATE_NAMES = ("TTFT", "TPOT", "output throughput", "QPS")


def benchmark(base_url: str, model: str, concurrency: int, num_requests: int,
              prompt_tokens: int, output_tokens: int, output: Path, *, endpoint: str = "completions",
              warmup: int | None = None, request_rate: float | None = None,
              api_key: str | None = None, slo_ttft_ms: float | None = None,
              slo_tpot_ms: float | None = None, workers: int | None = None,
              tokenizer: Path | None = None, progress: Callable[[str], None] = print
              ) -> LevelRun:
    """One level, measured and written to ``output`` (vllm-bench JSON)."""
    run = bench.measure_level(base_url, model, concurrency, num_requests, prompt_tokens,
                              output_tokens, endpoint=endpoint, warmup=warmup,
                              request_rate=request_rate, api_key=api_key,
                              slo_ttft_ms=slo_ttft_ms, slo_tpot_ms=slo_tpot_ms,
                              workers=workers, tokenizer=tokenizer, progress=progress)
    bench.write_json(run, model, base_url, output)
    return run


def gates(run: LevelRun, limits: dict, json_path: str, source: Callable[[str], str]
          ) -> list[Gate]:
    """The guide's four targets for this level; throughput and QPS only at the levels the
    profile names (the guide measures throughput with its concurrency-16 run)."""
    stat = limits["statistic"]
    m = run.metrics
    by_level = limits.get("ttft_max_ms_by_concurrency", {})
    ttft_key = ("ttft_max_ms" if run.concurrency not in by_level
                else f"ttft_max_ms_by_concurrency.{run.concurrency}")
    out = [
        Gate(f"{stat} TTFT", statistic(m["ttft_ms"], stat), "<",
             by_level.get(run.concurrency, limits["ttft_max_ms"]), "ms",
             f"{json_path}:{stat}_ttft_ms", source(ttft_key)),
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


def validity_gates(run: LevelRun, limits: dict, json_path: str, source: Callable[[str], str]
                   ) -> dict[str, Gate]:
    """Is the measurement itself sound? Failed requests within budget; every completed request
    exactly the prompt and output size it asked for (by the server's usage); no prompt token
    from the prefix cache; the client held the concurrency it claims (Little's law); the
    server's own counters agree with the client's. A check with nothing to read (no request
    completed, a server without /metrics) is unmeasured, never passed."""
    records = run.result.records
    ok = [r for r in records if r.ok]
    failed = [r for r in records if not r.ok]
    none_ok = "no request of this level completed"
    out = {"errors": Gate(
        "failed requests (share)", len(failed) / len(records) if records else None, "<=",
        limits["max_error_rate"], "", f"{json_path}:errors", source("max_error_rate"),
        f"{len(failed)}/{len(records)} failed; first errors: {[r.error for r in failed[:3]]}"
        if failed else "")}
    for kind in ("output", "prompt"):
        pairs = [(getattr(r, f"requested_{kind}_tokens"), getattr(r, f"{kind}_tokens"))
                 for r in ok]
        wrong = [(asked, got) for asked, got in pairs if asked != got]
        lens = "output_lens" if kind == "output" else "input_lens"
        # Prompts sized without a tokenizer asked for no exact length: nothing to check.
        unsized = ok and any(asked is None for asked, _ in pairs)
        out[f"{kind}_tokens"] = Gate(
            f"requests whose {kind} length differs from the request",
            len(wrong) if ok and not unsized else None,
            "<=", 0, "requests", f"{json_path}:{lens}", source(f"{kind}_tokens"),
            f"prompts were sized {run.sizing}" if unsized
            else f"{len(wrong)}/{len(ok)} (asked, got): {wrong[:10]}" if ok else none_ok)
    reported = [r.cached_tokens for r in records if r.cached_tokens is not None]
    counters = run.result.server_counters or {}
    hits = sum(reported) if reported else counters.get("prefix_cache_hits")
    out["prefix_cache"] = Gate(
        "prompt tokens served from the prefix cache", hits, "<=", 0, "tokens",
        f"{json_path}:ascend_oss.cached_tokens", "",
        "the server reports cached tokens neither in usage nor in /metrics" if hits is None
        else "TTFT is flattered by cached prefill")
    in_flight = run.metrics["mean_in_flight"]
    out["concurrency"] = Gate(
        "Little's law |QPS x mean E2EL / concurrency - 1|",
        abs(in_flight / run.concurrency - 1) if ok else None, "<=",
        limits["concurrency_tolerance"], "", f"{json_path}:ascend_oss.mean_in_flight",
        source("concurrency_tolerance"),
        f"{in_flight:.2f} requests in flight at concurrency {run.concurrency}: the client did "
        "not hold the load it claims" if ok else none_ok)
    expected = {"requests": len(ok), "output_tokens": sum(r.output_tokens for r in ok),
                "prompt_tokens": sum(r.prompt_tokens for r in ok)}
    differ = {k: (counters[k], v) for k, v in expected.items()
              if k in counters and counters[k] != v}
    out["server_counters"] = Gate(
        "server /metrics counts that differ from the client's",
        len(differ) if run.result.server_counters else None, "<=", 0, "counters",
        f"{json_path}:ascend_oss.server_counters_delta", "",
        f"(server, client): {differ}" if run.result.server_counters
        else "the server exposes no vLLM counters at /metrics")
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
        self._capacity: Gate | None = None

    def json_path(self, concurrency: int) -> Path:
        return self.out_dir / "performance" / f"c{concurrency}.json"

    def level(self, concurrency: int) -> LevelRun:
        if concurrency not in self._runs:
            lim = self.limits
            self._runs[concurrency] = benchmark(
                self.base_url, self.model, concurrency,
                num_requests=lim["requests_by_concurrency"].get(
                    concurrency, lim["requests_per_level"] * concurrency),
                prompt_tokens=lim["prompt_tokens"],
                output_tokens=lim["output_tokens_by_concurrency"].get(
                    concurrency, lim["output_tokens"]),
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

    def validity(self, concurrency: int) -> dict[str, Gate]:
        return validity_gates(self.level(concurrency), self.limits,
                              str(self.json_path(concurrency)), self.source)

    def capacity(self) -> Gate | None:
        """The capacity gate (None when the profile gates none): the search at the profile's
        flat TTFT and TPOT bounds, up to four times the concurrency it must reach."""
        lim = self.limits
        if lim["capacity_min"] <= 0:
            return None
        if self._capacity is None:
            slo = capacity.Slo(lim["ttft_max_ms"], lim["tpot_max_ms"])

            def measure(c: int) -> capacity.Probe:
                return capacity.measure_probe(self.base_url, self.model, c,
                                              lim["requests_per_level"], lim["prompt_tokens"],
                                              lim["output_tokens"], slo, api_key=self.api_key)

            found = capacity.search(measure, lim["capacity_attainment"],
                                    limit=4 * lim["capacity_min"], progress=self.progress)
            path = self.out_dir / "performance" / "capacity.json"
            write_json_atomic(path, {"slo": {"ttft_ms": slo.ttft_ms, "tpot_ms": slo.tpot_ms},
                                     **found})
            at_least = "" if found["bounded"] else " (at least: the search stopped there)"
            self._capacity = Gate(
                f"concurrency within TTFT {slo.ttft_ms:g} ms and TPOT {slo.tpot_ms:g} ms for "
                f"{100 * found['target']:.0f} % of requests", found["capacity"], ">=",
                lim["capacity_min"], "streams", str(path), self.source("capacity_min"),
                f"goodput {found['goodput']:.2f} req/s there{at_least}")
        return self._capacity

    def gate(self, concurrency: int, name: str) -> Gate | None:
        """The gate ``name`` (one of GATE_NAMES) at this level, or None where it is not gated."""
        found = [g for g in self.gates(concurrency) if g.name.endswith(name)]
        return found[0] if found else None
