"""The load client's wire: httpx over AsyncioBackend, pooled in shards, and what it must keep
of httpx's behaviour (errors, timeouts, keep-alive, proxies)."""

from __future__ import annotations

import asyncio
import socket
from http.server import BaseHTTPRequestHandler

import httpcore
import httpx
import pytest

from conftest import http_server
from pytest_ascend_oss.transport import asyncio_backend
from pytest_ascend_oss.transport.http import async_client


def pools(client: httpx.AsyncClient) -> list:
    transport = client._transport
    shards = getattr(transport, "_shards", [transport])
    return [shard._pool for shard in shards]


@pytest.mark.parametrize("concurrency,expected", [(1, 1), (16, 1), (64, 4), (1024, 64)])
def test_the_load_client_runs_on_our_backend_in_pools_of_sixteen_streams(concurrency, expected):
    client = async_client("http://127.0.0.1:9", concurrency=concurrency)
    found = pools(client)
    assert len(found) == expected
    assert all(isinstance(p._network_backend, asyncio_backend.AsyncioBackend) for p in found)
    assert all(p._max_connections == concurrency + 2 for p in found)


def test_an_environment_proxy_keeps_httpx_default_transport(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.delenv("no_proxy", raising=False)
    assert asyncio_backend.load_transport("http://10.0.0.5:8000", httpx.Limits()) is None
    monkeypatch.setenv("NO_PROXY", "10.0.0.5")
    assert asyncio_backend.load_transport("http://10.0.0.5:8000", httpx.Limits()) is not None


def handler(respond):
    """A request handler class (HTTP/1.1, keep-alive) whose GET is ``respond(self)``."""
    return type("Handler", (BaseHTTPRequestHandler,), {
        "protocol_version": "HTTP/1.1", "do_GET": respond,
        "log_message": lambda self, *args: None})


def test_requests_stream_and_reuse_their_keep_alive_connection():
    @handler
    def hello(request):
        request.send_response(200)
        request.send_header("Content-Length", "5")
        request.end_headers()
        request.wfile.write(b"hello")

    async def main(url: str) -> tuple[list[bytes], list]:
        async with async_client(url) as http:
            bodies, peers = [], []
            for _ in range(3):
                async with http.stream("GET", "/") as response:
                    bodies.append(b"".join([c async for c in response.aiter_raw()]))
            peers = [c._connection._network_stream.get_extra_info("client_addr")
                     for c in pools(http)[0].connections]
            return bodies, peers

    with http_server(hello) as url:
        bodies, peers = asyncio.run(main(url))
    assert bodies == [b"hello"] * 3
    assert len(peers) == 1  # one connection carried all three


def test_a_refused_connection_is_httpx_connect_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused

    async def main():
        async with async_client(f"http://127.0.0.1:{port}") as http:
            await http.get("/")

    with pytest.raises(httpx.ConnectError):
        asyncio.run(main())


def test_a_silent_server_is_a_read_timeout_not_a_hang():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"

        async def main():
            async with async_client(url, timeout=httpx.Timeout(0.3)) as http:
                await http.get("/")

        with pytest.raises(httpx.ReadTimeout):
            asyncio.run(main())


def test_a_connection_closed_mid_body_is_an_error_not_a_short_answer():
    @handler
    def partial(request):
        request.send_response(200)
        request.send_header("Content-Length", "100")
        request.end_headers()
        request.wfile.write(b"only part")
        request.wfile.flush()
        request.connection.shutdown(socket.SHUT_RDWR)

    async def main(url: str):
        async with async_client(url) as http:
            return await http.get("/")

    with http_server(partial) as url, pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(main(url))


def test_a_task_keeps_its_pool_and_tasks_are_dealt_round_robin():
    shards = [object(), object(), object()]
    transport = asyncio_backend.ShardedTransport(shards)  # type: ignore[arg-type]

    async def pick_twice():
        return transport._shard(), transport._shard()

    async def main():
        return await asyncio.gather(*(pick_twice() for _ in range(6)))

    picks = asyncio.run(main())
    assert all(a is b for a, b in picks)
    assert [shards.index(a) for a, _ in picks] == [0, 1, 2, 0, 1, 2]


def test_reads_wait_for_data_and_honour_their_timeout():
    async def main():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        stream = await asyncio_backend.AsyncioBackend().connect_tcp("127.0.0.1", port, 2.0)
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(100, timeout=0.05)
        await stream.aclose()
        server.close()

    asyncio.run(main())
