#!/usr/bin/env python3
"""A reverse proxy that breaks a real server on purpose, for the plugin's own tests only.

--token-delay-ms D: every SSE event of a streamed response is released no sooner than D ms
after the previous one, as if the server decoded that much slower per step.
--fixed-answer TEXT: the final answer (chat ``content``) of every chat completion, streamed or
not, is replaced by TEXT, as a server that always says the same thing (e.g. a memorised "7842");
reasoning, usage and timing stay the real server's.
Everything else is passed through untouched.
Usage: slow_proxy.py --upstream URL --port N [--token-delay-ms D] [--fixed-answer TEXT]
"""

from __future__ import annotations

import argparse
import asyncio
import json

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


def _rewrite(event: bytes, answer: str, state: dict) -> bytes:
    """The event with its content delta replaced: all of ``answer`` once, then nothing."""
    if not event.startswith(b"data: {"):
        return event
    chunk = json.loads(event[len(b"data: "):])
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        if delta.get("content"):
            delta["content"] = "" if state.get("said") else answer
            state["said"] = True
    return b"data: " + json.dumps(chunk).encode()


def _rewrite_message(data: bytes, answer: str) -> bytes:
    """A non-streamed chat completion with every non-empty ``content`` replaced by ``answer``."""
    body = json.loads(data)
    for choice in body.get("choices") or []:
        message = choice.get("message") or {}
        if message.get("content"):
            message["content"] = answer
    return json.dumps(body).encode()


def build_app(upstream: str, delay_s: float, answer: str | None = None) -> Starlette:
    client = httpx.AsyncClient(base_url=upstream, timeout=None)

    async def forward(request: Request) -> Response:
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() in
                   ("content-type", "authorization")}
        upstream_request = client.build_request(request.method, request.url.path,
                                                content=body, headers=headers)
        response = await client.send(upstream_request, stream=True)
        if "text/event-stream" not in response.headers.get("content-type", ""):
            data = await response.aread()
            await response.aclose()
            if answer is not None and request.url.path.endswith("/chat/completions") \
                    and response.status_code == 200:
                data = _rewrite_message(data, answer)
            return Response(data, response.status_code,
                            media_type=response.headers.get("content-type"))

        async def slowed():
            state: dict = {}
            loop = asyncio.get_running_loop()
            next_release = loop.time()
            buffer = b""
            try:
                async for chunk in response.aiter_raw():
                    buffer += chunk
                    while b"\n\n" in buffer:
                        event, buffer = buffer.split(b"\n\n", 1)
                        if answer is not None:
                            event = _rewrite(event, answer, state)
                        next_release = max(next_release + delay_s, loop.time())
                        await asyncio.sleep(next_release - loop.time())
                        yield event + b"\n\n"
            finally:
                await response.aclose()

        return StreamingResponse(slowed(), response.status_code, media_type="text/event-stream")

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-delay-ms", type=float, default=0.0)
    parser.add_argument("--fixed-answer", default=None)
    args = parser.parse_args()
    uvicorn.run(build_app(args.upstream, args.token_delay_ms / 1000, args.fixed_answer),
                host="127.0.0.1",
                port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
