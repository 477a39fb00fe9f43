"""The load from several processes, each with its own event loop and connection pool.

One event loop stamps an event when it gets to it: when it has more ready sockets than it can
serve at once, every stamp is late by the queue in front of it, and TTFT and TPOT read high
(``docs/performance.md``: x2.17 of the true TTFT at c=128 from one process, before this). Split
among processes, each loop carries a share of the streams and keeps up, and the cores a
multi-card deployment's load needs are used.

How a run goes: each process gets every N-th request (warm-up and measured alike) and its share
of the concurrency (of the rate, in an open loop); all warm up, then wait; the parent scrapes
/metrics, writes the common start time (``perf_counter_ns``: CLOCK_MONOTONIC on Linux, one clock
for every process on the machine) and lets them go; each returns its records and the time it
finished; the parent scrapes again and merges the records into request order. The figures are
then computed exactly as for one process.

A process that dies or raises ends the run with its error (a failed request is a result; a lost
load process is not); the parent always stops and reaps every process it started.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable

from ..metrics.latency import RequestRecord
from ..secret import reveal, secret_or_none
from ..transport import prom
from ..transport.http import async_client
from . import eventloop
from .loadgen import LoadResult, Progress, check_split, closed_loop, measured_phase
from .workload import PreparedRequest

# Streams one process carries before another is started by default. At 64 one process held
# median TTFT and TPOT within 1 % of a synthetic server's truth (benchmarks/load_workers.py);
# the guide's levels (1-16) stay in one process, with no start-up cost.
STREAMS_PER_PROCESS = 64
PROGRESS_EVERY_S = 1.0  # how often a process reports its counts to the parent
POLL_S = 0.5  # how often the parent looks at its processes while waiting for messages
STOP_GRACE_S = 5.0
PARENT_POLL_S = 1.0


class LoadProcessError(RuntimeError):
    """A load process failed (its error, or how it exited, is the message)."""


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers(concurrency: int, cores: int | None = None) -> int:
    """One process per STREAMS_PER_PROCESS streams, at most one per core."""
    cores = available_cores() if cores is None else cores
    return max(1, min(cores, math.ceil(concurrency / STREAMS_PER_PROCESS)))


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` whole shares differing by at most one."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_load_in_processes(base_url: str, requests: list[PreparedRequest], concurrency: int,
                          warmup: int, workers: int, api_key=None,
                          request_rate: float | None = None, seed: int = 0,
                          progress: Callable[[str], None] = print) -> LoadResult:
    measured = check_split(requests, warmup)
    warm_requests = requests[:warmup]
    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent (pytest)
    messages = context.Queue()
    go = context.Event()
    start = context.Value("q", 0)
    streams = shares(concurrency, workers)
    processes = [context.Process(
        target=_process_main, name=f"ascend-oss-load-{i}", daemon=True,
        # The key crosses the private pipe to the child, never a command line or a file:
        # a Secret refuses pickling, so its value goes as a string and is wrapped again there.
        args=(os.getpid(), i, base_url, reveal(api_key),
              warm_requests[i::workers] + measured[i::workers],
              len(warm_requests[i::workers]), streams[i],
              request_rate / workers if request_rate else None, seed * 1000 + i,
              messages, go, start))
        for i in range(workers)]
    report = Progress(concurrency, progress, len(warm_requests))
    counts: dict[int, tuple[int, int]] = {}

    def on_progress(message: tuple) -> None:
        _, index, done, failed = message
        counts[index] = (done, failed)
        report(sum(d for d, _ in counts.values()), sum(f for _, f in counts.values()))

    try:
        for process in processes:
            process.start()
        _collect(processes, messages, "warm", on_progress)
        counts.clear()
        before = eventloop.run(_scrape(base_url, api_key))
        report.phase("measured", len(measured))
        start.value = time.perf_counter_ns()
        go.set()
        done = _collect(processes, messages, "done", on_progress)
        after = eventloop.run(_scrape(base_url, api_key))
    finally:
        if not go.is_set():
            start.value = -1  # tells a waiting process to leave without loading
            go.set()
        _stop(processes)
    records = _merge([done[i][1] for i in range(workers)], len(measured))
    warm = _merge([done[i][0] for i in range(workers)], len(warm_requests))
    duration_s = (max(done[i][2] for i in range(workers)) - start.value) / 1e9
    return LoadResult(concurrency, request_rate, records, warm, duration_s,
                      prom.delta(before, after), workers=workers)


def _merge(parts: list[list[RequestRecord]], total: int) -> list[RequestRecord]:
    """Back into request order: process i ran requests i, i + N, i + 2N, ..."""
    merged: list[RequestRecord | None] = [None] * total
    for i, part in enumerate(parts):
        merged[i::len(parts)] = part
    return merged  # type: ignore[return-value]


def _collect(processes, messages, kind: str, on_progress) -> dict[int, tuple]:
    """Wait until every process has sent ``kind``; progress on the way; raise if one fails."""
    received: dict[int, tuple] = {}
    while len(received) < len(processes):
        try:
            message = messages.get(timeout=POLL_S)
        except queue.Empty:
            for index, process in enumerate(processes):
                if index not in received and not process.is_alive():
                    raise LoadProcessError(
                        f"load process {index} exited with code {process.exitcode} before it "
                        f"sent {kind!r}") from None
            continue
        if message[0] == "progress":
            on_progress(message)
        elif message[0] == "error":
            raise LoadProcessError(f"load process {message[1]} failed:\n{message[2]}")
        elif message[0] == kind:
            received[message[1]] = message[2:]
    return received


def _stop(processes) -> None:
    for process in processes:
        if process.is_alive():
            process.join(STOP_GRACE_S if process.exitcode is None else 0)
        if process.is_alive():
            process.terminate()
            process.join(STOP_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join()


async def _scrape(base_url: str, api_key) -> dict | None:
    async with async_client(base_url, api_key) as http:
        return await prom.scrape(http)


def _process_main(parent: int, index: int, base_url: str, key: str | None,
                  requests: list[PreparedRequest], warmup: int, concurrency: int,
                  rate: float | None, seed: int, messages, go, start) -> None:
    """``parent``: the parent's pid as the parent saw it (read here, it could already be the
    pid of whoever adopted this process)."""
    # Ctrl-C reaches the whole process group: the parent decides, and stops its processes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        eventloop.run(_process_load(index, base_url, secret_or_none(key), requests, warmup,
                                    concurrency, rate, seed, messages, go, start))
    except Exception:  # noqa: BLE001 - everything goes to the parent, which raises it
        messages.put(("error", index, traceback.format_exc()))


def _exit_with_parent(parent: int) -> None:
    """A parent killed outright (SIGKILL) cannot stop its processes: each leaves by itself
    within a second of being orphaned, instead of waiting for a start that never comes or
    loading a server nobody measures."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


async def _process_load(index: int, base_url: str, api_key, requests: list[PreparedRequest],
                        warmup: int, concurrency: int, rate: float | None, seed: int, messages,
                        go, start) -> None:
    last, total = [0.0], [warmup]

    def report(done: int, failed: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or done == total[0]:
            last[0] = now
            messages.put(("progress", index, done, failed))

    async with async_client(base_url, api_key, concurrency) as http:
        warm = await closed_loop(http, requests[:warmup], concurrency, report) if warmup else []
        messages.put(("warm", index))
        go.wait()  # blocking on purpose: this loop has nothing else to do until the start
        if start.value < 0:
            return
        measured = requests[warmup:]
        total[0] = len(measured)
        records = await measured_phase(http, measured, concurrency, rate, seed, report,
                                       start.value)
        finished = time.perf_counter_ns()
    messages.put(("done", index, warm, records, finished))
