"""Shared helpers for the project's own tests (not the acceptance suite, which is tests/)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import psutil
import pytest

pytest_plugins = ["pytester"]

FAKE_VLLM = Path(__file__).parent / "fakes" / "fake_vllm.py"
FAKE_CMD = f"{shlex.quote(sys.executable)} {shlex.quote(str(FAKE_VLLM))}"


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
