"""One server process, in its own process group, that can always be taken down completely.

vLLM's API server forks an engine-core process, which forks workers; killing only the API server
leaves them holding memory and the port. So the server starts as the leader of a new session
(``start_new_session``) and teardown signals the whole group, then sweeps any descendant that
moved to a group of its own.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

_LIVE: set[ServerProcess] = set()


class ServerProcess:
    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None):
        self.argv = argv
        self.log_path = Path(log_path)
        self.env = env
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:  # a file, never an unread pipe that can fill up
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        _LIVE.add(self)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def exit_code(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM the group, wait up to ``grace`` seconds, SIGKILL whatever is left. Idempotent."""
        if self.popen is None:
            return
        pgid = self.popen.pid  # leader of its own session, so its pid is the group id
        stragglers = _descendants(self.popen.pid)
        _signal_group(pgid, signal.SIGTERM)
        for proc in stragglers:
            _signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            self.popen.poll()  # reap the leader, or its zombie keeps the group "alive"
            if not _group_alive(pgid) and not any(_alive(p) for p in stragglers):
                break
            time.sleep(0.1)
        _signal_group(pgid, signal.SIGKILL)
        for proc in stragglers:
            _signal(proc, signal.SIGKILL)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
            pass
        _LIVE.discard(self)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal(proc: psutil.Process, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except psutil.Error:
        pass


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True


@atexit.register
def _stop_all() -> None:
    """Last line of defence: an interpreter that exits with servers up takes them down."""
    for server in list(_LIVE):
        server.stop(grace=5.0)
