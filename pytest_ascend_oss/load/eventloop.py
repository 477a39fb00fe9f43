"""The event loop a load run turns on: uvloop's where it is installed, asyncio's otherwise.

Every streamed event wakes the loop once (poll, read, resume the request's task), so the loop's
own cost is paid per event. uvloop does that part in C: measured against the synthetic server at
c=64, 15-25 % less client CPU per event than asyncio's loop (``benchmarks/client_cpu.py``).
uvloop is what uvicorn, and so vLLM's API server, runs on; on a platform without it (Windows),
the same code runs on asyncio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop ships wheels for Linux and macOS
    uvloop = None

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the fastest loop available."""
    return asyncio.run(coroutine) if uvloop is None else uvloop.run(coroutine)


def loop_name() -> str:
    """Which loop ``run`` uses, for the run's JSON."""
    return "uvloop" if uvloop is not None else "asyncio"
