"""Load generation: closed loop at a fixed concurrency, or open loop at a Poisson rate.

One ``httpx.AsyncClient`` per process (``transport.http.async_client``: pool sized to the
concurrency, a stream may be silent for minutes, because a slow 128K prefill is not a network
error); warm-up requests run first and are excluded; the measured phase is bracketed by two
scrapes of the server's /metrics. ``run.py`` is the entry point: this module's one process, or
the load split among worker processes (``workers.py``) when one event loop would stamp events
late.
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
from . import eventloop
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
    workers: int = 1  # load processes
    loop: str = field(default_factory=eventloop.loop_name)  # their event loop


async def closed_loop(http, requests: list[PreparedRequest], concurrency: int,
                      progress: Callable[[int, int], None], phase_start: int | None = None
                      ) -> list[RequestRecord]:
    """``concurrency`` streams take ``requests`` in order until none is left. Every request is
    due at ``phase_start`` (perf_counter_ns; now by default): shared by the worker processes of
    one run, so queue times are on one clock."""
    records: list[RequestRecord | None] = [None] * len(requests)
    queue: asyncio.Queue = asyncio.Queue()
    for item in enumerate(requests):
        queue.put_nowait(item)
    done = [0, 0]  # finished, failed: counted as they come (a re-count per request is O(n^2))
    phase_start = time.perf_counter_ns() if phase_start is None else phase_start

    async def worker() -> None:
        while not queue.empty():
            index, request = queue.get_nowait()
            record = RequestRecord(start_ns=0, requested_prompt_tokens=request.prompt_tokens,
                                   requested_output_tokens=request.output_tokens)
            # Every request is due at phase start; the wait for a free slot is its queue time.
            record.queue_ns = time.perf_counter_ns() - phase_start
            records[index] = record = await send_streaming(http, request.path, request.body,
                                                           record)
            done[0] += 1
            done[1] += 0 if record.ok else 1
            progress(*done)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(requests)))))
    return records  # type: ignore[return-value]


async def open_loop(http, requests: list[PreparedRequest], rate: float, max_concurrency: int,
                    seed: int, progress: Callable[[int, int], None],
                    phase_start: int | None = None) -> list[RequestRecord]:
    """Poisson arrivals at ``rate`` per second from ``phase_start``, ``max_concurrency`` in
    flight at most (an arrival that finds none free waits: queue time)."""
    rng = random.Random(seed)
    slots = asyncio.Semaphore(max_concurrency)
    phase_start = time.perf_counter_ns() if phase_start is None else phase_start
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


async def measured_phase(http, requests: list[PreparedRequest], concurrency: int,
                         rate: float | None, seed: int, progress: Callable[[int, int], None],
                         phase_start: int | None = None) -> list[RequestRecord]:
    """The measured requests: Poisson arrivals at ``rate`` (concurrency caps in-flight), or a
    closed loop at ``concurrency`` when no rate is given."""
    if rate:
        return await open_loop(http, requests, rate, concurrency, seed, progress, phase_start)
    return await closed_loop(http, requests, concurrency, progress, phase_start)


class Progress:
    """Prints ``c=16 measured: 120/320 done, 0 failed, 35 s`` every few seconds and at the end
    of each phase."""

    def __init__(self, concurrency: int, progress: Callable[[str], None], warmup: int):
        self.concurrency, self.progress = concurrency, progress
        self.last_print = 0.0
        self.phase("warm-up", warmup)

    def phase(self, name: str, total: int) -> None:
        self.name, self.total, self.start = name, total, time.monotonic()

    def __call__(self, done: int, failed: int) -> None:
        now = time.monotonic()
        if now - self.last_print >= PROGRESS_EVERY_S or done == self.total:
            self.last_print = now
            self.progress(f"c={self.concurrency} {self.name}: {done}/{self.total} done, "
                          f"{failed} failed, {now - self.start:.0f} s")


def check_split(requests: list[PreparedRequest], warmup: int) -> list[PreparedRequest]:
    """The measured requests, or a ValueError when warm-up would take them all."""
    measured = requests[warmup:]
    if not measured:
        raise ValueError("no measured requests: need more requests than warm-up requests")
    return measured


async def run_load(base_url: str, requests: list[PreparedRequest], concurrency: int,
                   warmup: int, api_key: str | None = None, request_rate: float | None = None,
                   seed: int = 0, progress: Callable[[str], None] = print) -> LoadResult:
    """Run ``requests[:warmup]`` as warm-up, then the rest as the measured phase, from this
    process's event loop."""
    measured = check_split(requests, warmup)
    report = Progress(concurrency, progress, warmup)
    async with async_client(base_url, api_key, concurrency) as http:
        warm = await closed_loop(http, requests[:warmup], concurrency, report) if warmup else []
        before = await prom.scrape(http)
        report.phase("measured", len(measured))
        t0 = time.perf_counter_ns()
        records = await measured_phase(http, measured, concurrency, request_rate, seed, report)
        duration_s = (time.perf_counter_ns() - t0) / 1e9
        after = await prom.scrape(http)
    return LoadResult(concurrency, request_rate, records, warm, duration_s,
                      prom.delta(before, after))
