"""A network backend for httpcore on plain asyncio protocols: the load generator's wire.

Why this is written here: httpx's only asyncio path is httpcore's anyio backend, and under load
it costs more than the events it carries. Profiled against the synthetic server at c=64, each
read opened an anyio cancel scope (``fail_after``: task lookups, context managers) and paused
and resumed the socket's reader in the selector (two epoll modifications per read): about half
of the client's CPU per streamed event, and the event loop's lateness at high concurrency is
that CPU. Here a read costs a buffer slice when data is already there, and a future plus one
timer when it must wait. httpx stays the client (its API, pool, HTTP/1.1 parsing with h11);
only the socket layer under it changes, through httpcore's documented ``network_backend``.
"""

from __future__ import annotations

import asyncio
import ssl
import typing
import urllib.request
import weakref

import httpcore
import httpx

# Stop reading from the socket when this much is buffered and unread (a reader that fell
# behind must not let one stream take all memory); resume below half of it.
READ_HIGH_WATER = 1 << 20


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future | None = None  # a read waiting for data
        self.drained: asyncio.Future | None = None  # a write waiting for the buffer to drain
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > READ_HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close the transport: HTTP/1.1 has nothing to send after the peer's EOF

    def connection_lost(self, exc: BaseException | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.drained = None

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


def _expire(future: asyncio.Future, error: type[Exception]) -> None:
    if not future.done():
        future.set_exception(error())


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport, self._protocol = transport, protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            await self._wait(timeout, httpcore.ReadTimeout)
        if not protocol.buffer:
            if protocol.error is not None:
                raise httpcore.ReadError(str(protocol.error))
            return b""  # end of stream
        if len(protocol.buffer) <= max_bytes:  # the usual read: all of it, one copy
            data = bytes(protocol.buffer)
            protocol.buffer.clear()
        else:
            data = bytes(protocol.buffer[:max_bytes])
            del protocol.buffer[:max_bytes]
        if protocol.paused and len(protocol.buffer) < READ_HIGH_WATER // 2:
            protocol.paused = False
            self._transport.resume_reading()
        return data

    async def _wait(self, timeout: float | None, error: type[Exception]) -> None:
        loop = asyncio.get_running_loop()
        waiter = self._protocol.waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter, error)
        try:
            await waiter
        finally:
            self._protocol.waiter = None
            if timer is not None:
                timer.cancel()

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        drained = self._protocol.drained
        if drained is not None:
            try:
                await asyncio.wait_for(asyncio.shield(drained), timeout)
            except TimeoutError:
                raise httpcore.WriteTimeout() from None

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(self._transport, self._protocol, ssl_context,
                                             server_hostname=server_hostname,
                                             ssl_handshake_timeout=timeout)
        except TimeoutError:
            self._transport.close()
            raise httpcore.ConnectTimeout() from None
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        self._protocol.transport = transport
        return AsyncioStream(transport, self._protocol)

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            # httpcore asks before reusing an idle keep-alive connection: anything buffered or
            # an EOF on an idle connection means the server closed or broke it.
            return bool(self._protocol.buffer) or self._protocol.eof
        if info in ("ssl_object", "socket"):
            return self._transport.get_extra_info(info)
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable | None = None
                          ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        protocol = _Protocol()
        try:
            transport, _ = await asyncio.wait_for(loop.create_connection(
                lambda: protocol, host, port,
                local_addr=None if local_address is None else (local_address, 0)), timeout)
        except TimeoutError:
            raise httpcore.ConnectTimeout() from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        sock = transport.get_extra_info("socket")  # asyncio already set TCP_NODELAY
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _proxied(url: httpx.URL) -> bool:
    """Whether the environment routes ``url`` through a proxy (HTTP_PROXY, NO_PROXY, ...): then
    httpx's own transport, which honours it, carries the load instead of ours."""
    proxies = urllib.request.getproxies()
    return bool(proxies.get(url.scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(
        url.host)


# Streams per connection pool. httpcore's pool looks at every connection it holds when a
# request starts or a response closes: O(connections) each time. Profiled at c=1024 from one
# process, that was 53 % of the client's CPU; pools of 16 make it a constant.
STREAMS_PER_POOL = 16


class ShardedTransport(httpx.AsyncBaseTransport):
    """Several httpx transports (pools) behind one client: each asyncio task is given one, in
    turn, the first time it sends, and keeps it (a closed loop's stream reuses its own
    keep-alive connection). Each pool may grow to the whole concurrency, so an uneven share
    never makes a request wait for a connection."""

    def __init__(self, shards: list[httpx.AsyncBaseTransport]):
        self._shards = shards
        self._by_task: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._turn = 0

    def _shard(self) -> httpx.AsyncBaseTransport:
        task = asyncio.current_task()
        shard = self._by_task.get(task)
        if shard is None:
            shard = self._by_task[task] = self._shards[self._turn % len(self._shards)]
            self._turn += 1
        return shard

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._shard().handle_async_request(request)

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()


def _pool_transport(limits: httpx.Limits, ssl_context: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)
    # httpx builds its pool without a way to pass a network backend: the pool is rebuilt with
    # the same limits and TLS context, and ours (httpx 0.27-0.28 keep the pool in ``_pool``; the
    # project's tests check that the load client really runs on this backend).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context, max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry, network_backend=AsyncioBackend())
    return transport


def load_transport(base_url: str, limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """The transport for a load run against ``base_url``: httpx's, over AsyncioBackend, in
    pools of STREAMS_PER_POOL streams; None (httpx's default) where a proxy from the
    environment applies."""
    if _proxied(httpx.URL(base_url)):
        return None
    ssl_context = httpx.create_ssl_context()  # once: loading the CA bundle takes milliseconds
    pools = max(1, (limits.max_connections or 1) // STREAMS_PER_POOL)
    if pools == 1:
        return _pool_transport(limits, ssl_context)
    return ShardedTransport([_pool_transport(limits, ssl_context) for _ in range(pools)])
