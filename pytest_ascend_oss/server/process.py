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
import sys
import time
from pathlib import Path

import psutil

_LIVE: set[ServerProcess] = set()


class ServerProcess:
    """``cards``: the NPUs the server was put on (the device plan's); its stop then waits until
    npu-smi shows them released, so the next server on them is not refused (devices.py)."""

    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None,
                 cards: tuple[int, ...] | None = None):
        self.argv = argv
        self.log_path = Path(log_path)
        self.env = env
        self.cards = cards
        self.released: dict | None = None  # what the wait for the cards saw, after stop()
        self.popen: subprocess.Popen | None = None
        self.watchdog: subprocess.Popen | None = None
        self._watch_fd: int | None = None

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
        self._start_watchdog()

    def _start_watchdog(self) -> None:
        """A small process that takes the server's group down if we die without stopping it
        (SIGKILL from a CI after its grace period, the OOM killer): finalizers and atexit do
        not run then, and vLLM's engine would keep the port, a core and the card's memory.
        It holds the read end of a pipe whose only write end is ours: end of file without a
        stand-down byte means this process is gone. (A parent-death signal would reach the
        API server only, not the engine core and workers it forked.)"""
        read_fd, self._watch_fd = os.pipe()  # both close-on-exec: vLLM never holds them
        try:
            self.watchdog = subprocess.Popen(
                [sys.executable, "-m", "pytest_ascend_oss.server.watchdog", str(read_fd),
                 str(self.popen.pid)],
                pass_fds=(read_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
        finally:
            os.close(read_fd)

    def _stand_down_watchdog(self) -> None:
        if self._watch_fd is not None:
            try:
                os.write(self._watch_fd, STAND_DOWN)
            except OSError:
                pass
            os.close(self._watch_fd)
            self._watch_fd = None
        if self.watchdog is not None:
            try:
                self.watchdog.wait(timeout=5)
            except subprocess.TimeoutExpired:  # pragma: no cover
                self.watchdog.kill()
            self.watchdog = None

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

    def stop(self, grace: float = 20.0, wait_cards: bool = True) -> None:
        """SIGTERM the group, wait up to ``grace`` seconds, SIGKILL whatever is left; then, for
        a server on planned cards, wait until the cards are released. Idempotent."""
        if self.popen is None or self not in _LIVE:
            return
        pids = {self.popen.pid, *(p.pid for p in _descendants(self.popen.pid))}
        self._stand_down_watchdog()
        take_down(self.popen.pid, grace, reap=self.popen.poll)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
            pass
        _LIVE.discard(self)
        if self.cards and wait_cards:
            from .devices import wait_released

            self.released = wait_released(pids, self.cards)


STAND_DOWN = b"x"  # written to the watchdog's pipe by a normal stop


def take_down(leader: int, grace: float, reap=lambda: None) -> None:
    """SIGTERM the process group led by ``leader`` and every descendant that left it, wait up
    to ``grace`` seconds, SIGKILL whatever is left. ``reap`` collects the leader's exit status
    when the caller is its parent (a zombie leader keeps the group "alive")."""
    pgid = leader  # leader of its own session, so its pid is the group id
    stragglers = _descendants(leader)
    _signal_group(pgid, signal.SIGTERM)
    for proc in stragglers:
        _signal(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap()
        if not _group_alive(pgid) and not any(_alive(p) for p in stragglers):
            break
        time.sleep(0.1)
    _signal_group(pgid, signal.SIGKILL)
    for proc in stragglers:
        _signal(proc, signal.SIGKILL)


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
        server.stop(grace=5.0, wait_cards=False)
