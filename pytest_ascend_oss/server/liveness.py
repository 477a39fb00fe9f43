"""Is the server under test still serving? Asked before each acceptance test, so a server that
died mid-run (the OOM killer, an engine crash, a card reset) is one story told once: how it died,
the log's diagnosis and tail, and what was measured before it stays in results.json.

The check is cheap on purpose (a process poll, one GET /health): it runs before every test.
"""

from __future__ import annotations

import signal
import time

from ..transport import vllm
from ..transport.http import sync_client
from .diagnose import find_fatal, tail
from .launcher import Endpoint
from .process import ServerProcess

HEALTH_TRIES = 3  # /health can miss once while the server is busy; three misses are a verdict
HEALTH_PAUSE_S = 1.0


def how_it_ended(code: int) -> str:
    """"exited with code 1" or "killed by SIGKILL (signal 9; the OOM killer sends it too)"."""
    if code >= 0:
        return f"exited with code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    hint = "; the OOM killer sends it too" if -code == signal.SIGKILL else ""
    return f"killed by {name} (signal {-code}{hint})"


def down_reason(endpoint: Endpoint, process: ServerProcess | None, api_key=None) -> str | None:
    """None while the server serves; otherwise the whole story, for the first test that finds
    it down: what happened, the diagnosis and remedy from the log, and the log's tail."""
    what = None if process is None or process.exit_code() is None else _ended(process)
    if what is None:
        what = _health_problem(endpoint, api_key)
        # A process that was dying when first asked has usually ended by the time /health has
        # been refused three times: its exit (a signal, the OOM killer) is the better story.
        if what is not None and process is not None and process.exit_code() is not None:
            what = _ended(process)
    if what is None:
        return None
    lines = [f"server died: {what}"]
    if process is not None:
        log = process.read_log()
        fatal = find_fatal(log)
        if fatal:
            signature, line = fatal
            lines += [f"server log shows {signature.name}: {line}", f"remedy: {signature.remedy}"]
        lines += [f"server log: {process.log_path}", "--- last lines of the server log ---",
                  tail(log, 20)]
    else:
        lines.append("attached server: its log is on its host; the first error there is the "
                     "cause")
    return "\n".join(lines)


def _ended(process: ServerProcess) -> str:
    return f"the server process (pid {process.pid}) {how_it_ended(process.exit_code())}"


def _health_problem(endpoint: Endpoint, api_key) -> str | None:
    with sync_client(endpoint.base_url, api_key, "probe") as http:
        for attempt in range(HEALTH_TRIES):
            problem = vllm.health_problem(http)
            if problem is None:
                return None
            if attempt < HEALTH_TRIES - 1:
                time.sleep(HEALTH_PAUSE_S)
    return (f"{endpoint.base_url}{problem}, {HEALTH_TRIES} times in "
            f"{HEALTH_PAUSE_S * (HEALTH_TRIES - 1):.0f} s")
