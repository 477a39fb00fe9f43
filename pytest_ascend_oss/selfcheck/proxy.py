"""The fault proxy: a reverse proxy in front of a real OpenAI-compatible server that breaks
its answers one way (``faults.py``), so a suite can be seen failing on the user's own server.

Run in a thread by the self-check (``serving``), or alone for a person to try a fault:
``python -m pytest_ascend_oss.selfcheck.proxy --upstream http://127.0.0.1:8000 --port 8001
--fault always-7842``. Listens on 127.0.0.1 only. Requests pass through as sent, with the
client's Authorization header; nothing is logged, so no key is written anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import Iterator

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..server import in_thread
from ..transport.http import pool_limits
from . import faults

GENERATION_PATHS = ("/v1/completions", "/v1/chat/completions")
PASSED_HEADERS = ("content-type", "authorization")


def build_app(upstream: str, fault: str, delay_s: float = 0.0,
              answer: str = faults.FIXED_ANSWER) -> Starlette:
    """``delay_s``: the first-token hold (first-token-delay) or the spacing of events
    (token-delay); ``answer``: what always-7842 says instead. Other faults ignore both."""
    if fault not in faults.BY_NAME or faults.BY_NAME[fault].launched:
        raise ValueError(f"unknown proxy fault {fault!r}; choose one of "
                         + ", ".join(f.name for f in faults.FAULTS if not f.launched))
    # below vLLM's keep-alive, as every client of the project (transport/http.py: why)
    client = httpx.AsyncClient(base_url=upstream, timeout=None, limits=pool_limits())
    generation_requests = 0
    shuffle = faults.Shuffler()

    async def forward(request: Request) -> Response:
        nonlocal generation_requests
        path = request.url.path
        generating = request.method == "POST" and path in GENERATION_PATHS
        if generating:
            number, generation_requests = generation_requests, generation_requests + 1
            if faults.injects_500(fault, number):
                return JSONResponse({"error": {"message": "injected by the self-check's "
                                               "http-500-bursts fault", "type": "InternalServerError",
                                               "code": 500}}, status_code=500)
        body = await request.body()
        if fault == "forgetful-history" and generating and path.endswith("/chat/completions"):
            body = json.dumps(faults.forgotten(json.loads(body))).encode()
        if fault == "questions-shuffled" and generating and path.endswith("/chat/completions"):
            body = json.dumps(shuffle(json.loads(body))).encode()
        headers = {k: v for k, v in request.headers.items() if k.lower() in PASSED_HEADERS}
        response = await client.send(
            client.build_request(request.method, path, params=request.query_params,
                                 content=body, headers=headers), stream=True)
        rewriter = faults.Rewriter(fault, path.endswith("/chat/completions"), answer,
                                   number if generating else 0)
        if "text/event-stream" not in response.headers.get("content-type", ""):
            data = await response.aread()
            await response.aclose()
            if generating and response.status_code == 200:
                data = json.dumps(rewriter.message(json.loads(data))).encode()
                if fault in ("first-token-delay", "token-delay"):
                    await asyncio.sleep(delay_s)  # a whole answer is as late as its first token
            return Response(data, response.status_code,
                            media_type=response.headers.get("content-type"))
        return StreamingResponse(_events(response, rewriter, fault, delay_s),
                                 response.status_code, media_type="text/event-stream")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        await client.aclose()

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])],
                     lifespan=lifespan)


async def _events(response: httpx.Response, rewriter: faults.Rewriter, fault: str,
                  delay_s: float):
    loop = asyncio.get_running_loop()
    next_release = loop.time()
    buffer = b""
    try:
        async for raw in response.aiter_raw():
            buffer += raw
            while b"\n\n" in buffer:
                event, buffer = buffer.split(b"\n\n", 1)
                if event.startswith(b"data: {"):
                    before = rewriter.token_events
                    chunk = rewriter.event(json.loads(event[len(b"data: "):]))
                    if chunk is faults.CUT:
                        return  # the connection ends here: no further event, no [DONE]
                    event = b"data: " + json.dumps(chunk).encode()
                    if fault == "first-token-delay" and before == 0 and rewriter.token_events:
                        await asyncio.sleep(delay_s)
                if fault == "token-delay":
                    next_release = max(next_release + delay_s, loop.time())
                    await asyncio.sleep(next_release - loop.time())
                yield event + b"\n\n"
    finally:
        await response.aclose()


@contextlib.contextmanager
def serving(upstream: str, fault: str, delay_s: float = 0.0,
            answer: str = faults.FIXED_ANSWER) -> Iterator[str]:
    """The proxy on a free loopback port in a thread of this process; yields its URL and
    always stops it."""
    with in_thread.serving(build_app(upstream, fault, delay_s, answer), f"{fault} fault proxy",
                           lifespan="on") as url:
        yield url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pytest_ascend_oss.selfcheck.proxy",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="the real server's root URL")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fault", required=True,
                        choices=[f.name for f in faults.FAULTS if not f.launched])
    parser.add_argument("--delay-ms", type=float, default=0.0,
                        help="first-token-delay: the hold; token-delay: the event spacing")
    parser.add_argument("--answer", default=faults.FIXED_ANSWER,
                        help="always-7842: the answer every chat completion gets instead")
    args = parser.parse_args(argv)
    uvicorn.run(build_app(args.upstream, args.fault, args.delay_ms / 1000, args.answer),
                host="127.0.0.1",
                port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
