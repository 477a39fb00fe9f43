"""One place for what every request to the server shares: the bearer token, the client
factories and the table of timeouts (why each is what it is)."""

from __future__ import annotations

import httpx

from ..secret import Secret, reveal
from .h1 import client_transport

# Seconds. httpx's default of 5 s everywhere would turn a slow 128K prefill into a "network
# error"; one number for everything would make a dead server look like a slow one.
TIMEOUTS = {
    # /health, /version, /v1/models: a live server answers at once.
    "probe": httpx.Timeout(10.0, connect=5.0),
    # readiness polling while a launched server starts: short connects, patient reads
    # (the first generation can compile kernels).
    "startup": httpx.Timeout(30.0, connect=2.0),
    # attaching to a running server: it may be busy serving someone else.
    "attach": httpx.Timeout(60.0, connect=5.0),
    # /tokenize, /detokenize and small non-streamed generations while preparing work.
    "control": httpx.Timeout(120.0, connect=10.0),
    # one whole non-streamed generation or scoring request (256 tokens, or prompt logprobs of
    # a corpus) on a slow box.
    "generation": httpx.Timeout(900.0, connect=10.0),
    # streamed requests under load: a 128K prefill is allowed to take minutes (29 s measured on
    # a 2-core CPU box without AMX), but a server that sends nothing for 5 minutes is hung:
    # that request fails, counted, and the run goes on (it never waits forever).
    "stream": httpx.Timeout(connect=30.0, read=300.0, write=60.0, pool=None),
}


# vLLM's API server (uvicorn) closes a keep-alive connection after 5 s idle
# (VLLM_HTTP_TIMEOUT_KEEP_ALIVE). A client that reuses one at that moment sends its request
# into the server's close and the request fails: a failed request counted against the
# deployment. httpx's default expiry is the same 5 s; ours stays well below.
KEEPALIVE_EXPIRY_S = 2.0


def pool_limits(connections: int | None = None) -> httpx.Limits:
    """Connection limits for every client of the project: ``connections`` at most, all of them
    kept alive (httpx's own defaults when None), idle ones dropped after KEEPALIVE_EXPIRY_S."""
    if connections is None:
        return httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S)
    return httpx.Limits(max_connections=connections, max_keepalive_connections=connections,
                        keepalive_expiry=KEEPALIVE_EXPIRY_S)


class ServerError(RuntimeError):
    """The server answered with an error; the message carries status, endpoint and body."""


def auth_headers(api_key: str | Secret | None) -> dict[str, str]:
    """The one place a key's value is revealed: into the header httpx sends (and hides in its
    own reprs)."""
    return {"Authorization": f"Bearer {reveal(api_key)}"} if api_key else {}


def sync_client(base_url: str, api_key: str | None = None, kind: str = "control",
                timeout: float | httpx.Timeout | None = None) -> httpx.Client:
    """A client for ``base_url`` with the key and the timeout of ``kind`` (see TIMEOUTS)."""
    return httpx.Client(base_url=base_url, headers=auth_headers(api_key),
                        limits=pool_limits(),
                        timeout=TIMEOUTS[kind] if timeout is None else timeout)


def async_client(base_url: str, api_key: str | None = None, concurrency: int = 1,
                 kind: str = "stream", timeout: float | httpx.Timeout | None = None
                 ) -> httpx.AsyncClient:
    """An async client whose connection pool holds ``concurrency`` streams (plus two for the
    /metrics scrapes that bracket a run), on the project's HTTP/1.1 transport (``h1.py``: why)."""
    limits = pool_limits(concurrency + 2)
    return httpx.AsyncClient(
        base_url=base_url, headers=auth_headers(api_key), limits=limits,
        transport=client_transport(base_url, limits),
        timeout=TIMEOUTS[kind] if timeout is None else timeout)
