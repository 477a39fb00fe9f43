"""Why the clients' keep-alive expiry stays below the server's (transport/http.py).

A uvicorn server (what vLLM's API server runs on) with a short keep-alive timeout, and a client
that sends a request every time the connection has been idle for about that long: once with an
idle expiry above the server's (httpx's default 5 s against vLLM's 5 s is the equal case), once
equal, once below. A request sent on a connection the server is closing at that moment fails,
and in a benchmark that is a failed request counted against the deployment.

Usage: .venv/bin/python benchmarks/keepalive_race.py [--requests 150] [--server-keepalive 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import random

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from pytest_ascend_oss.server import in_thread
from pytest_ascend_oss.transport import h1


async def ok(request):
    return PlainTextResponse("ok")


async def failures(url: str, expiry: float, requests: int, idle: float) -> int:
    failed = 0
    transport = h1.H1Transport(httpx.Limits(keepalive_expiry=expiry))
    async with httpx.AsyncClient(base_url=url, transport=transport) as http:
        for _ in range(requests):
            try:
                await http.post("/", content=b"x")
            except httpx.HTTPError:
                failed += 1
            await asyncio.sleep(idle * random.uniform(0.95, 1.05))
    return failed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--server-keepalive", type=float, default=0.2)
    args = parser.parse_args()
    keepalive = args.server_keepalive
    app = Starlette(routes=[Route("/", ok, methods=["POST"])])
    with in_thread.serving(app, "keep-alive server", timeout_keep_alive=keepalive) as url:
        race(url, keepalive, args.requests)


def race(url: str, keepalive: float, requests: int) -> None:
    print(f"uvicorn keep-alive {keepalive} s; a request after each {keepalive} s (+-5 %) idle")
    print("| client idle expiry | failed requests |")
    print("|---|---|")
    for label, expiry in (("above the server's (x25)", keepalive * 25),
                          ("equal", keepalive), ("below (x0.4)", keepalive * 0.4)):
        failed = asyncio.run(failures(url, expiry, requests, keepalive))
        print(f"| {label} | {failed} of {requests} |", flush=True)


if __name__ == "__main__":
    main()
