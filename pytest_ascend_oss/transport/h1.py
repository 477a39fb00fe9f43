"""HTTP/1.1 for the async clients: an httpx transport on asyncio protocols, parsed by httptools.

Why this is written here. Under load the client's CPU per streamed event is its lateness: an
event loop busy with one stream stamps the next stream's tokens late. Profiled against the
synthetic server (docs/performance.md, "What the client cost"), httpx's default stack spent it
in three places: httpcore's anyio backend (a cancel scope and two epoll changes per socket
read), httpcore's pool (a scan of every connection per request), and, once those were cut, h11
parsing chunked HTTP/1.1 in pure Python with each chunk handed up through six async generators
(about 70 % of what was left). `vllm bench serve` uses aiohttp, which parses with llhttp in C.

httptools is llhttp's Python binding (the parser uvicorn runs on the server side of vLLM), so
the parsing here is a well-kept library's. What is ours is the glue no library offers for
httpx: one request at a time per keep-alive connection, a pool with httpx's limits, httpx's
timeouts and exceptions. httpx stays the client: its API, requests, responses and errors are
what the rest of the project sees, and where an environment proxy applies, httpx's own
transport carries the request (``client_transport``).

Request tracing: httpcore's ``trace`` extension is honoured for the one event the project uses,
``http11.send_request_headers.started`` (``streaming.send_streaming`` starts its clock there), so
the same hook works on this transport and on httpx's.
"""

from __future__ import annotations

import asyncio
import collections
import select
import ssl
import typing
import urllib.request

import httptools
import httpx

# Stop reading from the socket when this much body is buffered and unread (a reader that fell
# behind must not let one stream take all memory); resume once the reader has taken it.
READ_HIGH_WATER = 1 << 20

# A response closed before its last byte (a streamed request that stopped at its final SSE
# event, before the chunked terminator that follows a few microseconds later) keeps its
# connection this long to let the rest arrive, then goes back to the pool. A stream abandoned
# mid-generation is closed when this runs out, so the server aborts the generation.
DRAIN_SECONDS = 0.25

TRACE_EVENT = "http11.send_request_headers.started"

Origin = tuple[str, str, int]


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: the asyncio protocol, httptools' callbacks, and the state of the
    one response in flight."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.lost = False  # the peer closed, or the connection broke
        self.lost_error: BaseException | None = None
        self.parse_error: str | None = None
        self.waiter: asyncio.Future | None = None  # the reader, waiting for bytes
        self.drained: asyncio.Future | None = None  # a writer, waiting for the buffer to drain
        self.reading_paused = False
        self.busy = False  # a request is in flight (bytes arriving otherwise break it)
        self.idle_since = 0.0
        self.on_complete: typing.Callable[[], None] | None = None  # set while draining
        self.reset()

    def reset(self) -> None:
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_complete = False
        self.body: list[bytes] = []
        self.buffered = 0
        self.complete = False
        self.keep_alive = True
        self.head_request = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self.busy or self.parse_error is not None:
            self.parse_error = self.parse_error or "bytes arrived with no request in flight"
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.parse_error = f"malformed HTTP response: {exc}"
            self.close()
        if self.buffered > READ_HIGH_WATER and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()
        self.wake()

    def eof_received(self) -> bool:
        self.lost = True
        self.wake()
        return False  # close the transport: HTTP/1.1 has nothing to send after the peer's EOF

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = True
        self.lost_error = exc
        self.wake()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        if self.on_complete is not None:
            self.on_complete()

    def pause_writing(self) -> None:
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.drained = None

    # httptools' callbacks

    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_complete = True
        if self.head_request:  # no body follows, whatever Content-Length says
            self.complete, self.keep_alive = True, False

    def on_body(self, body: bytes) -> None:
        if self.on_complete is None:  # a draining response's body has no reader
            self.body.append(body)
            self.buffered += len(body)

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.keep_alive and self.parser.should_keep_alive()
        if self.on_complete is not None:
            self.on_complete()

    # used by the transport and the response stream

    def wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    @property
    def reusable(self) -> bool:
        return (not self.lost and self.parse_error is None and not self.transport.is_closing())

    def closed_unseen(self) -> bool:
        """Whether the socket of this idle connection is readable: the server closed it (or sent
        what an idle connection must not), and the loop has not run the callback that says so.
        A loop stalled for seconds does this (the server's keep-alive timeout passes while the
        response's end and the close wait unread); httpcore asks the same of an idle connection
        before reusing it. One zero-timeout poll of the file descriptor (poll, not select: a
        load of 1,024 streams has descriptors past select's limit)."""
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return False
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        return bool(poller.poll(0))

    def ends_at_eof(self) -> bool:
        """A response with neither Content-Length nor chunked framing: its body ends when the
        server closes (RFC 9112 6.3); llhttp would be told so by a call httptools does not
        expose."""
        names = {name.lower(): value.lower() for name, value in self.headers}
        return b"content-length" not in names and b"chunked" not in names.get(
            b"transfer-encoding", b"")

    def take_body(self) -> bytes:
        chunk = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body.clear()
        self.buffered = 0
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()
        return chunk

    async def wait(self, timeout: float | None, timed_out: typing.Callable[[], Exception]
                   ) -> None:
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter, timed_out)
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    def failure(self, request: httpx.Request, before_response: bool) -> httpx.TransportError:
        """What went wrong, as httpx says it (the texts are httpcore's where it has one)."""
        if self.parse_error is not None:
            return httpx.RemoteProtocolError(self.parse_error, request=request)
        if self.lost_error is not None:
            return httpx.ReadError(str(self.lost_error), request=request)
        if before_response:
            return httpx.RemoteProtocolError("Server disconnected without sending a response.",
                                             request=request)
        return httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body", request=request)


def _expire(future: asyncio.Future, timed_out: typing.Callable[[], Exception]) -> None:
    if not future.done():
        future.set_exception(timed_out())


def _request_head(request: httpx.Request) -> bytes:
    lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), request.url.raw_path)]
    lines += [b"%s: %s\r\n" % header for header in request.headers.raw]
    lines.append(b"\r\n")
    return b"".join(lines)


class _ResponseBody(httpx.AsyncByteStream):
    """The body as it arrives: every read hands up all that is buffered, one bytes object."""

    def __init__(self, transport: H1Transport, origin: Origin, conn: _Connection,
                 request: httpx.Request, read_timeout: float | None) -> None:
        self._transport, self._origin, self._conn = transport, origin, conn
        self._request, self._read_timeout = request, read_timeout
        self._closed = False

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        conn = self._conn
        while True:
            if conn.body:
                yield conn.take_body()
            elif conn.complete:
                return
            elif conn.parse_error is not None or conn.lost:
                if conn.parse_error is None and conn.lost_error is None and conn.ends_at_eof():
                    conn.complete, conn.keep_alive = True, False
                    return
                raise conn.failure(self._request, before_response=False)
            else:
                await conn.wait(self._read_timeout, self._timed_out)

    def _timed_out(self) -> Exception:
        return httpx.ReadTimeout("no data within the read timeout", request=self._request)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._transport._finished(self._origin, self._conn)


class H1Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over keep-alive connections, at most ``limits.max_connections`` in use; idle
    connections are kept per origin, newest first, for ``limits.keepalive_expiry`` seconds."""

    def __init__(self, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits()
        self._slots = (None if limits.max_connections is None
                       else asyncio.Semaphore(limits.max_connections))
        self._max_idle = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._idle: dict[Origin, collections.deque[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._ssl_context: ssl.SSLContext | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"{url.scheme!r} is not HTTP or HTTPS",
                                            request=request)
        timeouts = request.extensions.get("timeout") or {}
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        await self._acquire(request, timeouts.get("pool"))
        conn = None
        try:
            conn = self._reuse(origin) or await self._connect(origin, request,
                                                              timeouts.get("connect"))
            conn.busy = True
            await self._send(conn, request, timeouts.get("write"))
            while not conn.headers_complete:
                if conn.parse_error is not None or conn.lost:
                    raise conn.failure(request, before_response=True)
                await conn.wait(timeouts.get("read"), lambda: httpx.ReadTimeout(
                    "no response within the read timeout", request=request))
        except BaseException:  # cancelled too: the slot and the socket must not leak
            if conn is not None:
                self._discard(conn)
            self._release()
            raise
        return httpx.Response(
            conn.status, headers=conn.headers,
            stream=_ResponseBody(self, origin, conn, request, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": conn.reason.strip()})

    async def _acquire(self, request: httpx.Request, timeout: float | None) -> None:
        if self._slots is None:
            return
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout)
        except asyncio.TimeoutError:  # TimeoutError itself from 3.11
            raise httpx.PoolTimeout("no connection free within the pool timeout",
                                    request=request) from None

    def _release(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def _reuse(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()
            if conn.reusable and (self._expiry is None or now - conn.idle_since < self._expiry) \
                    and not conn.closed_unseen():
                return conn
            self._discard(conn)
        return None

    async def _connect(self, origin: Origin, request: httpx.Request, timeout: float | None
                       ) -> _Connection:
        scheme, host, port = origin
        tls = None
        if scheme == "https":
            if self._ssl_context is None:  # once: loading the CA bundle takes milliseconds
                # httpx's own context: certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR.
                self._ssl_context = httpx.create_ssl_context()
            tls = self._ssl_context
        loop = asyncio.get_running_loop()
        conn = _Connection()
        try:
            await asyncio.wait_for(loop.create_connection(
                lambda: conn, host, port, ssl=tls, server_hostname=host if tls else None),
                timeout)
        except asyncio.TimeoutError:  # TimeoutError itself from 3.11
            conn.close()
            raise httpx.ConnectTimeout(f"no connection to {host}:{port} within {timeout} s",
                                       request=request) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        self._open.add(conn)
        return conn

    async def _send(self, conn: _Connection, request: httpx.Request, timeout: float | None
                    ) -> None:
        conn.head_request = request.method == "HEAD"
        trace = request.extensions.get("trace")
        if trace is not None:
            await trace(TRACE_EVENT, {"request": request})
        head = _request_head(request)
        try:
            body = request.content  # httpx has read every body given as bytes, str or JSON
        except httpx.RequestNotRead:  # a streamed upload
            conn.transport.write(head)
            chunked = request.headers.get("transfer-encoding", "").lower() == "chunked"
            async for piece in request.stream:
                if piece:
                    conn.transport.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked
                                         else piece)
                    await self._drain(conn, request, timeout)
            if chunked:
                conn.transport.write(b"0\r\n\r\n")
        else:
            conn.transport.write(head + body)  # one write: one segment for a small request
        await self._drain(conn, request, timeout)

    async def _drain(self, conn: _Connection, request: httpx.Request, timeout: float | None
                     ) -> None:
        if conn.lost:
            raise httpx.WriteError("the connection closed while sending", request=request)
        if conn.drained is not None:
            try:
                await asyncio.wait_for(asyncio.shield(conn.drained), timeout)
            except asyncio.TimeoutError:  # TimeoutError itself from 3.11
                raise httpx.WriteTimeout("the request could not be sent within the write "
                                         "timeout", request=request) from None

    def _finished(self, origin: Origin, conn: _Connection) -> None:
        """The response was closed: its connection goes back to the pool, waits briefly for the
        rest of an unfinished body, or closes."""
        self._release()
        if conn.complete or not conn.reusable:
            self._park(origin, conn)
            return
        loop = asyncio.get_running_loop()
        timer = loop.call_later(DRAIN_SECONDS, self._discard, conn)

        def done() -> None:
            timer.cancel()
            conn.on_complete = None
            self._park(origin, conn)

        conn.body.clear()
        conn.on_complete = done

    def _park(self, origin: Origin, conn: _Connection) -> None:
        idle = self._idle.setdefault(origin, collections.deque())
        if not (conn.complete and conn.keep_alive and conn.reusable) or (
                self._max_idle is not None and len(idle) >= self._max_idle):
            self._discard(conn)
            return
        conn.busy = False
        conn.reset()
        conn.idle_since = asyncio.get_running_loop().time()
        idle.append(conn)

    def _discard(self, conn: _Connection) -> None:
        conn.on_complete = None
        conn.close()
        self._open.discard(conn)

    async def aclose(self) -> None:
        for conn in list(self._open):
            self._discard(conn)
        self._idle.clear()


def _proxied(url: httpx.URL) -> bool:
    """Whether the environment routes ``url`` through a proxy (HTTP_PROXY, NO_PROXY, ...): then
    httpx's own transport, which honours it, carries the requests instead of ours."""
    proxies = urllib.request.getproxies()
    return bool(proxies.get(url.scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(
        url.host)


def client_transport(base_url: str, limits: httpx.Limits) -> httpx.AsyncBaseTransport | None:
    """The transport for async clients of ``base_url``: H1Transport, or None (httpx's default)
    where a proxy from the environment applies."""
    return None if _proxied(httpx.URL(base_url)) else H1Transport(limits)
