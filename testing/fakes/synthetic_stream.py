#!/usr/bin/env python3
"""A streaming completions server with exactly known timing, for the plugin's own tests only.

Every request gets: a role-only chunk at once (like vLLM's chat, so TTFT and ttft_first_chunk
differ), then ``max_tokens`` tokens, the first at TTFT after the request arrived and each next
one TOKEN_MS later, grouped into SSE events of varying size (1, 3, 2, 5, 1, 4, ...: an event is
sent when its last token is due), with continuous usage; a keep-alive comment now and then; the
final usage; ``[DONE]``. Deadlines are absolute, so scheduling jitter never accumulates.

Truth for a request of N tokens: TTFT = --ttft-ms, TPOT = ITL = --token-ms.

The server checks itself: GET /stats answers the medians of what it really sent (first token
minus arrival, and TPOT, from its own send stamps) and how late its sends were against their
deadlines (p50 / p99 / max). A benchmark that shares the CPU with it reads there whether the
truth held, before it judges the client against it.

With --token-ms-per-stream X, each token's interval grows by X ms per request in flight when it
is scheduled, as a server whose decode slows with its batch: in a closed loop of c streams,
TPOT = --token-ms + X * c, so the largest c within a TPOT objective S is (S - token-ms) / X.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

CHUNK_SIZES = (1, 3, 2, 5, 1, 4)


def event(payload: dict) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ttft: float,
                 token: float) -> None:
    """Serve requests on one keep-alive connection (as vLLM does) until the client closes it."""
    # Small writes must leave at once, as uvicorn's do: Nagle would hold them for an ACK.
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            await respond(reader, writer, ttft, token)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


IN_FLIGHT = [0]  # requests being answered now (one event loop: no lock needed)
PER_STREAM = [0.0]  # --token-ms-per-stream, in seconds
SENT: list[tuple[float, float, float, int]] = []  # (arrived, first sent, last sent, tokens)
LATE: list[float] = []  # seconds each event was written after its deadline


def stats() -> dict:
    def median(values: list[float]) -> float | None:
        ordered = sorted(values)
        return ordered[len(ordered) // 2] if ordered else None

    late = sorted(LATE)
    return {
        "requests": len(SENT),
        "ttft_ms_median": (median([f - a for a, f, _, _ in SENT]) or 0) * 1000,
        "tpot_ms_median": (median([(last - f) / (n - 1) for _, f, last, n in SENT if n > 1])
                           or 0) * 1000,
        "late_ms_p50": late[len(late) // 2] * 1000 if late else None,
        "late_ms_p99": late[int(len(late) * 0.99)] * 1000 if late else None,
        "late_ms_max": late[-1] * 1000 if late else None,
    }


async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ttft: float,
                  token: float) -> None:
    loop = asyncio.get_running_loop()
    head = await reader.readuntil(b"\r\n\r\n")
    arrived = loop.time()
    length = 0
    for line in head.decode().split("\r\n"):
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    if head.startswith(b"GET /stats "):
        data = json.dumps(stats()).encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
        await writer.drain()
        return
    if not head.startswith(b"POST"):  # e.g. the harness scraping /metrics: none here
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        return
    body = json.loads(await reader.readexactly(length))
    total = int(body.get("max_tokens", 16))
    prompt = len(body["prompt"]) if isinstance(body.get("prompt"), list) else 1
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")
    writer.write(chunked(event({"choices": [{"index": 0, "text": "", "finish_reason": None}],
                                "usage": {"prompt_tokens": prompt, "completion_tokens": 0}})))
    await writer.drain()
    IN_FLIGHT[0] += 1
    try:
        await _tokens(writer, arrived, ttft, token, total, prompt)
    finally:
        IN_FLIGHT[0] -= 1


async def _tokens(writer: asyncio.StreamWriter, arrived: float, ttft: float, token: float,
                  total: int, prompt: int) -> None:
    loop = asyncio.get_running_loop()
    sent, i = 0, 0
    first = last = 0.0
    due = arrived + ttft  # the first token's; each next one an interval later
    while sent < total:
        size = min(CHUNK_SIZES[i % len(CHUNK_SIZES)], total - sent)
        for k in range(size):  # the event is due with its last token
            if sent or k:  # the interval under the batch in flight at this moment
                due += token + PER_STREAM[0] * IN_FLIGHT[0]
        await asyncio.sleep(max(0.0, due - loop.time()))
        last = loop.time()
        LATE.append(last - due)
        if not sent:  # the first event carries one token (CHUNK_SIZES[0])
            first = last
        sent += size
        payload = {"sent_ns": time.monotonic_ns(), "arrived_ns": int(arrived * 1e9),
                   "choices": [{"index": 0, "text": " tok" * size, "finish_reason": None}],
                   "usage": {"prompt_tokens": prompt, "completion_tokens": sent,
                             "total_tokens": prompt + sent}}
        writer.write(chunked((b": keep-alive\n\n" if i % 4 == 3 else b"") + event(payload)))
        await writer.drain()
        i += 1
    SENT.append((arrived, first, last, sent))
    final = {"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": sent,
                                      "total_tokens": prompt + sent}}
    writer.write(chunked(event(final) + b"data: [DONE]\n\n") + b"0\r\n\r\n")
    await writer.drain()


@contextlib.contextmanager
def serving(ttft_ms: float, token_ms: float, per_stream_ms: float = 0.0) -> Iterator[str]:
    """This server in a child process on a free loopback port; yields its URL and always
    stops it (the project's tests and benchmarks start it here)."""
    from pytest_ascend_oss.server.argv import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--port", str(port), "--ttft-ms", str(ttft_ms),
         "--token-ms", str(token_ms), "--token-ms-per-stream", str(per_stream_ms)],
        stdout=subprocess.PIPE, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the synthetic server did not start (exit {proc.poll()})")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttft-ms", type=float, default=200.0)
    parser.add_argument("--token-ms", type=float, default=20.0)
    parser.add_argument("--token-ms-per-stream", type=float, default=0.0)
    args = parser.parse_args()
    PER_STREAM[0] = args.token_ms_per_stream / 1000
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args.ttft_ms / 1000, args.token_ms / 1000),
        "127.0.0.1", args.port, backlog=256)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
