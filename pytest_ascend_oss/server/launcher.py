"""Start a server, wait until it truly serves, climb the guide's fallback ladder if it does not.

Ready means: the process is alive, ``/health`` is 200, ``/v1/models`` lists the served name, a
real one-token generation succeeds, and ``/health`` is still 200 after it (vLLM answers
``/v1/models`` even when its engine died on the first request).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ..transport.http import sync_client
from . import argv as argv_tools
from .devices import environment_on, holders_text
from .diagnose import CARD_TAKEN, Signature, find_fatal, first_error, tail
from .process import ServerProcess

# The guide's ladder (回退阶梯): as given, the same once more to confirm the failure is
# deterministic, then with --enforce-eager to isolate graph capture.
RUNGS = ("as-given", "retry", "enforce-eager")
POLL_S = 0.5
PROGRESS_EVERY_S = 10.0
REFUSED = "connection refused"
# Attaching: a refused connection means nothing listens at the port. A server that restarts
# takes longer than this, but then the user is not ready to attach either; failing in seconds
# beats a fixed 30 s wait per run.
REFUSED_GRACE_S = 2.0


class StartupError(RuntimeError):
    """The server did not come up; the message quotes the evidence and the remedy."""

    def __init__(self, message: str, signature: Signature | None = None,
                 log_path: Path | None = None, climb: bool | None = None):
        super().__init__(message)
        self.signature = signature
        self.log_path = log_path
        # Can the fallback ladder help? Unknown failures: yes; known ones say for themselves.
        self.climb = (signature.climb if signature else True) if climb is None else climb


@dataclass
class Endpoint:
    """A server that answers: where, under which name, and how it got there."""

    base_url: str
    model: str
    argv: list[str] = field(default_factory=list)
    rung: str | None = None
    startup_s: float | None = None
    log_path: Path | None = None
    attempts: list[dict] = field(default_factory=list)
    pid: int | None = None  # the launched server's pid, which is also its process group id

    @property
    def fallback(self) -> str | None:
        """What differs from the command as given, when a lower rung of the ladder came up:
        None for the as-given rung and for attached servers."""
        if self.rung in (None, "as-given", "attached"):
            return None
        if self.rung == "enforce-eager":
            return "--enforce-eager"
        return f"{self.rung} (the command as given failed first)"


def check_ready(client: httpx.Client, model: str | None, pooling: bool = False
                ) -> tuple[str | None, str]:
    """One readiness probe. Returns (served model name or None, what is still missing).
    ``pooling``: a pooling twin (``--runner pooling``), proven by one /pooling request instead
    of a generation."""
    try:
        health = client.get("/health")
    except httpx.ConnectError:
        return None, REFUSED
    except httpx.TransportError as exc:
        return None, f"no answer yet ({type(exc).__name__})"
    if health.status_code == 404:
        raise StartupError(f"{client.base_url}/health answers 404: vLLM always serves /health; "
                           "is the URL the vLLM server's root (e.g. http://127.0.0.1:8000)?")
    if health.status_code != 200:
        return None, f"/health answers {health.status_code}"
    models = client.get("/v1/models")
    if models.status_code in (401, 403):
        raise StartupError(
            f"/v1/models answers {models.status_code}: the server wants an API key "
            "(--api-key, ASCEND_OSS_API_KEY or VLLM_API_KEY) or rejects the one given"
        )
    if models.status_code != 200:
        return None, f"/v1/models answers {models.status_code}: {models.text[:200]}"
    listed = _listed_models(models)
    if model is None:
        if len(listed) != 1:
            raise StartupError(
                f"the server lists {len(listed)} models {listed}; name one with --model-name"
            )
        model = listed[0]
    elif model not in listed:
        return None, f"/v1/models lists {listed}, not {model!r}"
    if pooling:
        pooled = client.post("/pooling", json={"model": model, "input": "Hello",
                                               "task": "token_embed"})
        if pooled.status_code != 200:
            return None, f"one /pooling request answers {pooled.status_code}: {pooled.text[:300]}"
        return model, "ready"
    generation = client.post(
        "/v1/completions",
        json={"model": model, "prompt": "Hello", "max_tokens": 1, "temperature": 0},
    )
    if generation.status_code != 200:
        problem = f"one-token generation answers {generation.status_code}: {generation.text[:300]}"
        if generation.status_code >= 500 and client.get("/health").status_code != 200:
            # The engine died on its first request while the API front-end lives on.
            raise StartupError(f"{problem}; /health no longer answers 200: the engine is dead")
        return None, problem
    usage = generation.json().get("usage") or {}
    if usage.get("completion_tokens", 0) < 1:
        return None, f"one-token generation produced no token: {generation.text[:300]}"
    after = client.get("/health")
    if after.status_code != 200:
        return None, f"/health answers {after.status_code} after the first generation"
    return model, "ready"


def _listed_models(answer: httpx.Response) -> list:
    """The ids in a /v1/models answer; anything else than OpenAI's JSON is a wrong URL."""
    try:
        data = answer.json()
        return [m.get("id") for m in data["data"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        kind = answer.headers.get("content-type", "").split(";")[0] or "no content type"
        shown = "HTML" if "html" in kind else kind
        raise StartupError(
            f"{answer.request.url} answered {shown}, not the OpenAI model list: is the URL the "
            "vLLM server's root (e.g. http://127.0.0.1:8000)?") from None


def wait_ready(
    server: ServerProcess,
    base_url: str,
    model: str,
    timeout: float,
    api_key: str | None = None,
    progress: Callable[[str], None] = print,
    pooling: bool = False,
) -> float:
    """Block until ``server`` is ready; return seconds taken. Raises StartupError on failure."""
    started = time.monotonic()
    last_progress = started
    status = "starting"
    with sync_client(base_url, api_key, "startup") as client:
        while True:
            log = server.read_log()
            fatal = find_fatal(log)
            if fatal:
                signature, line = fatal
                cause = first_error(log)
                cause = f" (first error in the log: {cause})" if cause and cause not in line \
                    else ""
                if signature.name == CARD_TAKEN:  # name who holds it, from the driver's view
                    cause += f"; {holders_text()}"
                raise StartupError(
                    _failure(f"server log shows {signature.name}: {line}{cause}", server, log,
                             signature.remedy),
                    signature, server.log_path,
                )
            code = server.exit_code()
            if code is not None:
                raise StartupError(
                    _failure(f"server exited with code {code} before it was ready", server, log,
                             "read the log tail above; the first error is the cause"),
                    None, server.log_path,
                )
            try:
                served, status = check_ready(client, model, pooling)
            except StartupError as exc:
                raise StartupError(_failure(str(exc), server, server.read_log(),
                                            "read the log tail above; the first error is the cause"),
                                   None, server.log_path) from None
            if served:
                return time.monotonic() - started
            now = time.monotonic()
            if now - started > timeout:
                raise StartupError(
                    _failure(f"server not ready after {timeout:.0f} s ({status})", server, log,
                             "raise --startup-timeout if the server is merely slow "
                             "(graph capture on NPUs takes minutes)"),
                    None, server.log_path, climb=False,  # another 30 minutes would not help
                )
            if now - last_progress >= PROGRESS_EVERY_S:
                last_progress = now
                last_line = next((ln for ln in reversed(log.splitlines()) if ln.strip()), "")
                progress(f"waiting for server: {now - started:.0f} s, {status}; log: {last_line[-160:]}")
            time.sleep(POLL_S)


def _failure(what: str, server: ServerProcess, log: str, remedy: str) -> str:
    return (
        f"{what}\nremedy: {remedy}\nserver log: {server.log_path}\n"
        f"--- last lines of the server log ---\n{tail(log)}"
    )


def launch(
    argv: list[str],
    results_dir: Path,
    timeout: float,
    env: dict[str, str] | None = None,
    api_key: str | None = None,
    on_start: Callable[[ServerProcess], None] = lambda server: None,
    progress: Callable[[str], None] = print,
    ladder: bool = True,
    cards: tuple[int, ...] | None = None,
) -> tuple[ServerProcess, Endpoint]:
    """Launch ``argv`` and climb the fallback ladder until one rung comes up (``ladder=False``:
    the command as given or nothing, for a variant whose flags are the point). ``cards``: the
    NPUs of the device plan it runs on (``ASCEND_RT_VISIBLE_DEVICES`` in its environment; a
    stopped rung's cards are waited for before the next rung starts on them).

    ``on_start`` is called right after each process starts, before any waiting, so the caller
    can register teardown that also runs on Ctrl-C during startup.
    """
    argv, port, model = argv_tools.complete_argv(argv)
    base_url = f"http://{argv_tools.LOOPBACK}:{port}"
    pooling = argv_tools.flag_value(argv, "--runner") == "pooling"
    if cards is not None:
        env = environment_on(cards, os.environ if env is None else env)
    attempts: list[dict] = []
    rungs = RUNGS if ladder else RUNGS[:1]
    for rung in rungs:
        rung_argv = argv_tools.with_eager(argv) if rung == "enforce-eager" else argv
        log_path = Path(results_dir) / f"server-{rung}.log"
        server = ServerProcess(rung_argv, log_path, env, cards)
        progress(f"starting server ({rung}): {' '.join(argv_tools.redact(rung_argv))}")
        server.start()
        on_start(server)
        try:
            elapsed = wait_ready(server, base_url, model, timeout, api_key, progress, pooling)
        except StartupError as exc:
            server.stop()
            attempts.append({"rung": rung, "error": str(exc).splitlines()[0], "log": str(log_path)})
            if server.released is not None:
                attempts[-1]["cards_released"] = server.released
            if not exc.climb or rung == rungs[-1]:
                if len(attempts) > 1:
                    tried = "; ".join(f"{a['rung']}: {a['error']}" for a in attempts)
                    raise StartupError(f"{exc}\nladder tried: {tried}", exc.signature,
                                       exc.log_path, exc.climb) from None
                raise
            progress(f"startup failed ({rung}): {attempts[-1]['error']}; next rung")
            continue
        attempts.append({"rung": rung, "ready_s": round(elapsed, 1), "log": str(log_path),
                         **({"cards": list(cards)} if cards is not None else {})})
        progress(f"server ready in {elapsed:.1f} s ({rung}) at {base_url}, model {model!r}")
        return server, Endpoint(base_url, model, argv_tools.redact(rung_argv), rung, elapsed,
                                log_path, attempts, server.pid)
    raise AssertionError("unreachable")  # pragma: no cover


def attach(base_url: str, model: str | None, api_key: str | None, timeout: float = 30.0) -> Endpoint:
    """Check that a running server is ready; never starts or stops anything."""
    started = time.monotonic()
    status = "no attempt"
    with sync_client(base_url, api_key, "attach") as client:
        while time.monotonic() - started < timeout:
            try:
                served, status = check_ready(client, model)
            except httpx.HTTPError as exc:  # a timeout or broken answer mid-check
                served, status = None, f"{type(exc).__name__}: {exc}"
            if served:
                return Endpoint(base_url, served, attempts=[{"rung": "attached"}])
            if status == REFUSED and time.monotonic() - started >= REFUSED_GRACE_S:
                raise StartupError(
                    f"nothing listens at {base_url} (connection refused): start the server, or "
                    "check the URL's host and port")
            time.sleep(0.5 if status == REFUSED else 1.0)
    raise StartupError(f"server at {base_url} is not ready after {timeout:.0f} s: {status}")
