"""An ASGI app served by uvicorn in a thread of this process, on a free loopback port: the
self-check's fault proxy, and the project's own gateway fake and benchmark servers."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

from .argv import LOOPBACK

START_TIMEOUT_S = 30.0


@contextlib.contextmanager
def serving(app: Any, name: str, **config: Any) -> Iterator[str]:
    """Start ``app`` (uvicorn ``config`` options on top of quiet defaults), yield its URL once
    it listens, and always stop it. A server that does not start within START_TIMEOUT_S, or
    whose thread dies first, is a RuntimeError naming ``name``."""
    options = {"host": LOOPBACK, "port": 0, "log_level": "error", "access_log": False, **config}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {name} did not start")
            time.sleep(0.05)
        yield f"http://{LOOPBACK}:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
