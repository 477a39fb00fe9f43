"""A gateway in front of a real server that offers only some of its paths (as an API gateway
or another engine does: OpenAI's endpoints, none of vLLM's own), for the project's own tests.

``serving(upstream, hidden=("/tokenize", "/detokenize"))`` runs it in a thread on a free
loopback port; hidden paths answer 404; everything else passes through, streams as streams.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from pytest_ascend_oss.server import in_thread
from pytest_ascend_oss.transport.http import pool_limits


def build_app(upstream: str, hidden: tuple[str, ...]) -> Starlette:
    client = httpx.AsyncClient(base_url=upstream, timeout=None, limits=pool_limits())

    async def forward(request: Request) -> Response:
        if request.url.path in hidden:
            return Response('{"detail": "Not Found"}', 404, media_type="application/json")
        response = await client.send(client.build_request(
            request.method, request.url.path, content=await request.body(),
            headers={"content-type": request.headers.get("content-type", "application/json")}),
            stream=True)
        if "text/event-stream" in response.headers.get("content-type", ""):
            async def body():
                try:
                    async for raw in response.aiter_raw():
                        yield raw
                finally:
                    await response.aclose()
            return StreamingResponse(body(), response.status_code,
                                     media_type="text/event-stream")
        data = await response.aread()
        await response.aclose()
        return Response(data, response.status_code,
                        media_type=response.headers.get("content-type"))

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST"])])


@contextlib.contextmanager
def serving(upstream: str, hidden: tuple[str, ...] = ("/tokenize", "/detokenize")
            ) -> Iterator[str]:
    with in_thread.serving(build_app(upstream, hidden), "gateway") as url:
        yield url
