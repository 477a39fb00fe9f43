"""``python -m pytest_ascend_oss.server.watchdog FD LEADER``: wait on a pipe from the process that
launched the server; if that process dies without standing down (end of file, no byte), take
the server's process group down (see ``ServerProcess._start_watchdog``)."""

from __future__ import annotations

import os
import signal
import sys

from .process import STAND_DOWN, take_down

GRACE_S = 20.0  # as ServerProcess.stop: vLLM shuts its engine down on SIGTERM


def main(argv: list[str]) -> int:
    fd, leader = int(argv[0]), int(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C to the terminal is the parent's
    try:
        word = os.read(fd, 1)  # blocks until a stand-down byte, or end of file
    except OSError:
        word = b""
    if word == STAND_DOWN:
        return 0
    take_down(leader, GRACE_S)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
