"""Capacity under an SLO: the largest concurrency at which a share of requests (the attainment
target) meets every latency objective, found by doubling the concurrency until attainment
falls below the target, then bisecting between the last level that met it and the first that
did not. vLLM's goodput, guidellm's SLO-bounded search and AIPerf's max-concurrency-under-SLA
ask the same question; this answers it per request, as they do: a request meets the SLO when
its own TTFT and TPOT are within the objectives, and a failed request never does.

The search takes a ``measure(concurrency) -> Probe`` so the CLI measures a real server and the
project's tests a synthetic one whose capacity is known in closed form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from . import bench

SLO_KEYS = ("ttft_ms", "tpot_ms")
# Measured requests per probe, at least: attainment is a share, and with 5 requests one slow
# request is 20 % (seen on the canary at c=1: 4 of 5 within 250 ms / 40 ms, median TTFT 22 ms,
# so capacity 0 for a server that carries 16 streams easily). 20 leaves a 90 % target room for
# two misses, as a share should.
MIN_REQUESTS = 20


def requests_for(concurrency: int, per_stream: int) -> int:
    """Measured requests of the probe at ``concurrency``."""
    return max(MIN_REQUESTS, per_stream * concurrency)


class CapacityError(ValueError):
    """A search that cannot be run as asked (the message says what to change)."""


@dataclass(frozen=True)
class Slo:
    ttft_ms: float | None = None
    tpot_ms: float | None = None

    def met_by(self, record) -> bool:
        """``record`` is a load RequestRecord: a failed request meets no SLO."""
        if not record.ok:
            return False
        if self.ttft_ms is not None and record.ttft_s * 1000 > self.ttft_ms:
            return False
        return self.tpot_ms is None or (record.tpot_s or 0.0) * 1000 <= self.tpot_ms


def parse_slo(text: str) -> Slo:
    """``ttft_ms=100,tpot_ms=20`` (either or both)."""
    values: dict[str, float] = {}
    for part in (p.strip() for p in str(text).split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in SLO_KEYS:
            raise CapacityError(f"SLO {part!r}: expected KEY=MS with KEY one of "
                                f"{', '.join(SLO_KEYS)} (e.g. ttft_ms=100,tpot_ms=20)")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not number > 0:
            raise CapacityError(f"SLO {part!r}: {value!r} is not a positive number of ms")
        values[key.strip()] = number
    if not values:
        raise CapacityError("an SLO needs at least one objective, e.g. ttft_ms=100,tpot_ms=20")
    return Slo(**values)


@dataclass(frozen=True)
class Probe:
    """One measured level: its attainment, goodput and the figures a reader checks it by."""

    concurrency: int
    requests: int
    attainment: float          # share of measured requests that met every objective
    goodput: float             # such requests per second
    median_ttft_ms: float | None
    median_tpot_ms: float | None
    failed: int


def probe_from(concurrency: int, records: list, duration_s: float, slo: Slo) -> Probe:
    """A Probe from a load run's measured records."""
    import statistics

    ok = [r for r in records if r.ok]
    met = sum(slo.met_by(r) for r in records)
    tpots = [r.tpot_s for r in ok if r.tpot_s is not None]
    return Probe(concurrency, len(records), met / len(records) if records else 0.0,
                 met / duration_s if duration_s > 0 else 0.0,
                 statistics.median(r.ttft_s for r in ok) * 1000 if ok else None,
                 statistics.median(tpots) * 1000 if tpots else None,
                 len(records) - len(ok))


def measure_probe(base_url: str, model: str, concurrency: int, per_stream: int,
                  prompt_tokens: int, output_tokens: int, slo: Slo, endpoint: str = "completions",
                  api_key=None, workers: int | None = None, tokenizer=None) -> Probe:
    """One closed-loop level against a real server (fresh prompts), as a Probe: the
    ``measure`` the CLI and the performance suite both give ``search``."""
    run = bench.measure_level(base_url, model, concurrency,
                              requests_for(concurrency, per_stream), prompt_tokens,
                              output_tokens, endpoint=endpoint, api_key=api_key,
                              slo_ttft_ms=slo.ttft_ms, slo_tpot_ms=slo.tpot_ms,
                              workers=workers, tokenizer=tokenizer, progress=lambda m: None)
    return probe_from(concurrency, run.result.records, run.result.duration_s, slo)


def search(measure: Callable[[int], Probe], target: float, start: int = 1,
           limit: int = 1024, progress: Callable[[str], None] = print) -> dict:
    """Double from ``start`` while attainment >= ``target`` (up to ``limit``), then bisect.

    Returns ``capacity`` (0 when even ``start`` misses), ``bounded`` (False when ``limit``
    still met the target: the capacity is at least that), the goodput there and every probe.
    """
    if not 0 < target <= 1:
        raise CapacityError(f"attainment target {target}: must be in (0, 1], e.g. 0.9")
    if not 1 <= start <= limit:
        raise CapacityError(f"start concurrency {start} must be between 1 and the limit {limit}")
    probes: dict[int, Probe] = {}

    def meets(c: int) -> bool:
        if c not in probes:
            probes[c] = measure(c)
            p = probes[c]
            progress(f"capacity: c={c}: attainment {100 * p.attainment:.0f} % "
                     f"(target {100 * target:.0f} %), goodput {p.goodput:.2f} req/s")
        return probes[c].attainment >= target

    good, bad, c = 0, None, start
    while True:
        if not meets(c):
            bad = c  # over the SLO: no higher level is tried (the server is past saturation)
            break
        good = c
        if c == limit:
            break
        c = min(2 * c, limit)
    while bad is not None and bad - good > 1:  # from 0 when even ``start`` missed
        mid = (good + bad) // 2
        if meets(mid):
            good = mid
        else:
            bad = mid
    return {"capacity": good, "bounded": bad is not None, "target": target,
            "goodput": probes[good].goodput if good else 0.0,
            "probes": [asdict(probes[k]) for k in sorted(probes)]}
