"""Load generation: closed loop at a fixed concurrency, or open loop at a Poisson rate.

One ``httpx.AsyncClient`` per run (``transport.http.async_client``: pool sized to the
concurrency, reads that never time out, because a slow 128K prefill is not a network error); warm-up requests run first and are excluded; the
measured phase is bracketed by two scrapes of the server's /metrics.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..metrics.latency import RequestRecord
from ..transport import prom
from ..transport.http import async_client
from ..transport.streaming import send_streaming
from .workload import PreparedRequest

PROGRESS_EVERY_S = 5.0


@dataclass
class LoadResult:
    concurrency: int
    request_rate: float | None
    records: list[RequestRecord]
    warmup_records: list[RequestRecord]
    duration_s: float
    server_counters: dict | None = None  # /metrics delta over the measured phase
    started: str = field(default_factory=lambda: time.strftime("%Y%m%d-%H%M%S"))


async def _closed_loop(http, requests: list[PreparedRequest], concurrency: int,
                       progress: Callable[[int, int], None]) -> list[RequestRecord]:
    records: list[RequestRecord | None] = [None] * len(requests)
    queue: asyncio.Queue = asyncio.Queue()
    for item in enumerate(requests):
        queue.put_nowait(item)
    phase_start = time.perf_counter_ns()

    async def worker() -> None:
        while not queue.empty():
            index, request = queue.get_nowait()
            record = RequestRecord(start_ns=0, requested_prompt_tokens=request.prompt_tokens,
                                   requested_output_tokens=request.output_tokens)
            # Every request is due at phase start; the wait for a free slot is its queue time.
            record.queue_ns = time.perf_counter_ns() - phase_start
            records[index] = await send_streaming(http, request.path, request.body, record)
            progress(sum(r is not None for r in records), sum(
                1 for r in records if r is not None and not r.ok))

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(requests)))))
    return records  # type: ignore[return-value]


async def _open_loop(http, requests: list[PreparedRequest], rate: float, max_concurrency: int,
                     seed: int, progress: Callable[[int, int], None]) -> list[RequestRecord]:
    rng = random.Random(seed)
    slots = asyncio.Semaphore(max_concurrency)
    phase_start = time.perf_counter_ns()
    done = [0, 0]
    arrival_s = 0.0

    async def one(request: PreparedRequest, due_s: float) -> RequestRecord:
        await asyncio.sleep(max(0.0, due_s - (time.perf_counter_ns() - phase_start) / 1e9))
        due_ns = phase_start + int(due_s * 1e9)
        async with slots:
            record = RequestRecord(start_ns=0, requested_prompt_tokens=request.prompt_tokens,
                                   requested_output_tokens=request.output_tokens)
            record.queue_ns = max(0, time.perf_counter_ns() - due_ns)
            record = await send_streaming(http, request.path, request.body, record)
        done[0] += 1
        done[1] += 0 if record.ok else 1
        progress(*done)
        return record

    tasks = []
    for request in requests:
        arrival_s += rng.expovariate(rate)
        tasks.append(one(request, arrival_s))
    return list(await asyncio.gather(*tasks))


async def run_load(base_url: str, requests: list[PreparedRequest], concurrency: int,
                   warmup: int, api_key: str | None = None, request_rate: float | None = None,
                   seed: int = 0, progress: Callable[[str], None] = print) -> LoadResult:
    """Run ``requests[:warmup]`` as warm-up, then the rest as the measured phase."""
    measured = requests[warmup:]
    if not measured:
        raise ValueError("no measured requests: need more requests than warm-up requests")
    last_print = [0.0]
    phase = {"name": "warm-up", "start": time.monotonic(), "total": warmup}

    def report(done: int, failed: int) -> None:
        now = time.monotonic()
        if now - last_print[0] >= PROGRESS_EVERY_S or done == phase["total"]:
            last_print[0] = now
            progress(f"c={concurrency} {phase['name']}: {done}/{phase['total']} done, "
                     f"{failed} failed, {now - phase['start']:.0f} s")

    async with async_client(base_url, api_key, concurrency) as http:
        warm = await _closed_loop(http, requests[:warmup], concurrency, report) if warmup else []
        before = await prom.scrape(http)
        phase.update(name="measured", start=time.monotonic(), total=len(measured))
        t0 = time.perf_counter_ns()
        if request_rate:
            records = await _open_loop(http, measured, request_rate, concurrency, seed, report)
        else:
            records = await _closed_loop(http, measured, concurrency, report)
        duration_s = (time.perf_counter_ns() - t0) / 1e9
        after = await prom.scrape(http)
    return LoadResult(concurrency, request_rate, records, warm, duration_s,
                      prom.delta(before, after))
