"""Shared helpers for the project's own tests (not the acceptance suite, which is tests/)."""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytest_plugins = ["pytester"]

FAKE_VLLM = Path(__file__).parent / "fakes" / "fake_vllm.py"
FAKE_CMD = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE_VLLM))}"


@contextlib.contextmanager
def breaking_proxy(upstream: str, *flags: str):
    """The package's fault proxy (pytest_ascend_oss/selfcheck/proxy.py) in its own process in
    front of ``upstream`` (flags say how it breaks it, e.g. ``--fault token-delay --delay-ms
    60``); yields its URL once it accepts connections, and always stops it."""
    from pytest_ascend_oss.server.argv import free_port

    port = free_port()
    proxy = subprocess.Popen([sys.executable, "-m", "pytest_ascend_oss.selfcheck.proxy", "--upstream", upstream,
                              "--port", str(port), *flags])
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if proxy.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the fault proxy did not start (exit code {proxy.poll()})")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proxy.terminate()
        proxy.wait()


@contextlib.contextmanager
def http_server(handler):
    """A ThreadingHTTPServer with ``handler`` on a free loopback port; yields its URL."""
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def pids_in(pidfile: Path) -> list[int]:
    if not pidfile.exists():
        return []
    return [int(line) for line in pidfile.read_text().split()]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def fake_env(tmp_path, monkeypatch):
    """Environment for a fake server run: where it records pids; returns the pid file path."""
    pidfile = tmp_path / "fake.pids"
    monkeypatch.setenv("FAKE_PIDFILE", str(pidfile))
    for name in list(os.environ):
        if name.startswith("ASCEND_OSS_"):
            monkeypatch.delenv(name)
    yield pidfile
    for pid in pids_in(pidfile):  # never leave a fake behind, whatever the test did
        if alive(pid):
            psutil.Process(pid).kill()


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: starts the real embedded vLLM server (about a minute)")


def pytest_collection_modifyitems(items):
    """Unit tests first, then e2e: quick feedback, and a fixed import order. pytester restores
    sys.modules after every test that uses it, so a torch submodule first imported inside such a
    test is dropped afterwards, and importing it again fails ("Only a single TORCH_LIBRARY can be
    used to register the namespace c10d_functional"). Unit tests import torch and transformers
    before any pytester test runs."""
    items.sort(key=lambda item: "/e2e/" in str(item.path))
