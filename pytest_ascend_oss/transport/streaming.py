"""One streamed request, timed event by event. Knows nothing of pytest or of load shape."""

from __future__ import annotations

import json
import time

import httpx

from ..metrics.latency import RequestRecord
from .sse import SSEParser
from .vllm import REASONING_FIELDS, reasoning_of

STREAM_OPTIONS = {"include_usage": True, "continuous_usage_stats": True}
_TOKEN_DELTA_FIELDS = ("content", *REASONING_FIELDS, "tool_calls")


def _carries_token(choice: dict) -> bool:
    delta = choice.get("delta") or {}
    return bool(choice.get("text") or any(delta.get(k) for k in _TOKEN_DELTA_FIELDS))


async def send_streaming(http: httpx.AsyncClient, path: str, body: dict,
                         record: RequestRecord | None = None) -> RequestRecord:
    """POST ``body`` with streaming on and fill a RequestRecord; never raises for server faults
    (a failed request is a result, counted, never dropped)."""
    body = {**body, "stream": True, "stream_options": STREAM_OPTIONS}
    record = record or RequestRecord(start_ns=0)
    parser = SSEParser()
    completion_tokens = 0  # running count from continuous usage
    record.start_ns = time.perf_counter_ns()
    handed_over_ns = record.start_ns

    async def trace(event_name: str, info: dict) -> None:
        # Start the clock when the request really goes on the wire: with many requests
        # launched at once, httpx builds and sends them one after another, and that wait
        # inside the client is queue time, not server latency.
        if event_name.endswith("send_request_headers.started"):
            record.start_ns = time.perf_counter_ns()
            record.queue_ns += record.start_ns - handed_over_ns
            # Nothing later is needed. Our transport (h1.py) traces this event only; httpx's
            # own (behind a proxy) would await the hook twice for every body chunk (measured:
            # a tenth of the client's CPU per event at c=64) unless it is unhooked here, since
            # httpcore reads it from this request's extensions each time it traces.
            info["request"].extensions.pop("trace", None)

    try:
        async with http.stream("POST", path, json=body, extensions={"trace": trace}) as response:
            if response.status_code != 200:
                await response.aread()
                record.error = f"HTTP {response.status_code}: {response.text[:300]}"
                return record
            async for raw in response.aiter_raw():
                now = time.perf_counter_ns()
                for event in parser.feed(raw, now):
                    if event.done:
                        _finish(record)
                        return record
                    chunk = json.loads(event.data)
                    if "error" in chunk:
                        record.error = f"error event: {event.data[:300]}"
                        return record
                    completion_tokens = _account(record, chunk, event.received_ns,
                                                 completion_tokens)
        record.error = "stream ended without [DONE]"
    except httpx.HTTPError as exc:
        record.error = f"{type(exc).__name__}: {exc}"
    except ValueError as exc:  # a data line that is not JSON
        record.error = f"bad event payload: {exc}"
    return record


def _account(record: RequestRecord, chunk: dict, at_ns: int, seen_tokens: int) -> int:
    choices = chunk.get("choices") or []
    usage = chunk.get("usage") or {}
    if choices and record.first_chunk_ns is None:
        record.first_chunk_ns = at_ns
    new_tokens = 0
    if usage.get("completion_tokens") is not None:
        new_tokens = usage["completion_tokens"] - seen_tokens
        seen_tokens = usage["completion_tokens"]
    has_token = new_tokens > 0 or any(_carries_token(c) for c in choices)
    if has_token and choices:
        # Without continuous usage a token-bearing event counts as one token.
        record.token_events.append((at_ns, max(new_tokens, 1)))
        if record.first_token_ns is None:
            record.first_token_ns = at_ns
        record.last_token_ns = at_ns
        for choice in choices:
            delta = choice.get("delta") or {}
            record.text += choice.get("text") or delta.get("content") or ""
            record.reasoning += reasoning_of(delta)
    for choice in choices:
        if choice.get("finish_reason"):
            record.finish_reason = choice["finish_reason"]
    if usage:
        record.prompt_tokens = usage.get("prompt_tokens", record.prompt_tokens)
        record.output_tokens = usage.get("completion_tokens", record.output_tokens)
        details = usage.get("prompt_tokens_details") or {}
        if details.get("cached_tokens") is not None:
            record.cached_tokens = details["cached_tokens"]
    return seen_tokens


def _finish(record: RequestRecord) -> None:
    if record.first_token_ns is None:
        record.error = "no token was generated"
