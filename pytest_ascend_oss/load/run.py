"""A load run: in this process (``loadgen.run_load``), or split among processes
(``workers.py``), chosen from the concurrency and the cores unless told."""

from __future__ import annotations

from collections.abc import Callable

from . import eventloop
from . import workers as processes
from .loadgen import LoadResult, run_load
from .workload import PreparedRequest


def run(base_url: str, requests: list[PreparedRequest], concurrency: int, warmup: int,
        api_key: str | None = None, request_rate: float | None = None, seed: int = 0,
        workers: int | None = None, progress: Callable[[str], None] = print) -> LoadResult:
    """The load run: in this process, or split among ``workers`` processes (None: chosen from
    the concurrency and the cores, ``workers.default_workers``)."""
    count = processes.default_workers(concurrency) if workers is None else workers
    count = min(count, concurrency)  # a process without a stream would do nothing
    if count <= 1:
        return eventloop.run(run_load(base_url, requests, concurrency, warmup, api_key,
                                      request_rate, seed, progress))
    return processes.run_load_in_processes(base_url, requests, concurrency, warmup, count,
                                           api_key, request_rate, seed, progress)
