"""Multi-turn conversations and the prefix cache: what a chat deployment serves most.

Each conversation is a harmony chat in which every turn extends the last: the user's message,
the model's streamed answer put back as an assistant message (its reasoning dropped, as
OpenAI's gpt-oss guidance says for earlier turns), the next user message. From the second turn
on, the prompt starts with the whole previous prompt, and a server with prefix caching prefills
only the new part. Reported, not gated:

- the prefix-cache hit rate over the conversations, from the server's own counters
  (``vllm:prefix_cache_hits`` / ``vllm:prefix_cache_queries``), and from ``usage`` where the
  server reports cached tokens there;
- TTFT per turn with the shared prefix, beside TTFT of its cold twin: the same messages with
  one fresh word put before the first user message, so that from there on no block of the
  prompt is in the cache (the harmony system header before it still is, in both), sent at the
  same concurrency through the same endpoint: the time the cache saves, on this deployment.
  (A first attempt compared with completions requests of the same lengths; the chat path's
  rendering and tokenization made the cold requests look faster than the cached ones.)
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable

from ...load import eventloop
from ...load.loadgen import run_load
from ...load.workload import PreparedRequest, words_text
from ...metrics.latency import RequestRecord
from ...transport import prom
from ...transport.http import async_client
from ...transport.streaming import send_streaming
from .bench import fresh_seed

CHAT = "/v1/chat/completions"


class MultiTurnError(ValueError):
    """A conversation run that cannot be made as asked."""


async def _conversations(base_url: str, model: str, conversations: int, turns: int,
                         user_words: int, output_tokens: int, concurrency: int, seed: int,
                         api_key, progress: Callable[[str], None]
                         ) -> tuple[list[list[tuple[list[dict], RequestRecord]]], dict | None]:
    slots = asyncio.Semaphore(concurrency)
    done = [0]

    async def one(index: int, http) -> list[tuple[list[dict], RequestRecord]]:
        async with slots:
            history: list[dict] = []
            records = []
            for turn in range(turns):
                history.append({"role": "user", "content": words_text(
                    seed * 1_000_003 + index * 1000 + turn, user_words)})
                record = await send_streaming(http, CHAT, {
                    "model": model, "messages": list(history), "max_tokens": output_tokens,
                    "temperature": 0})
                records.append((list(history), record))
                if not record.ok:
                    break  # a conversation cannot go on from a failed turn
                history.append({"role": "assistant", "content": record.text})
            done[0] += 1
            progress(f"multi-turn: {done[0]}/{conversations} conversations done")
            return records

    async with async_client(base_url, api_key, concurrency) as http:
        before = await prom.scrape(http)
        results = await asyncio.gather(*(one(i, http) for i in range(conversations)))
        after = await prom.scrape(http)
    return list(results), prom.delta(before, after)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def run(base_url: str, model: str, conversations: int = 8, turns: int = 4,
        user_words: int = 150, output_tokens: int = 64, concurrency: int = 4,
        seed: int | None = None,
        api_key=None, progress: Callable[[str], None] = print) -> dict:
    """The conversations, then their cold twins; the figures as a JSON-ready dict. Each run
    draws fresh texts unless given ``seed``: a repeated run's first turns would be cached."""
    if turns < 2:
        raise MultiTurnError(f"{turns} turn(s): a shared prefix needs at least 2")
    if conversations < 1 or concurrency < 1 or user_words < 1 or output_tokens < 1:
        raise MultiTurnError("conversations, concurrency, words and tokens must be >= 1")
    seed = fresh_seed() if seed is None else seed
    chats, counters = eventloop.run(_conversations(
        base_url, model, conversations, turns, user_words, output_tokens, concurrency, seed,
        api_key, progress))
    warm = [(turn, messages, r) for chat in chats
            for turn, (messages, r) in enumerate(chat, start=1)]
    failed = [r.error for _, _, r in warm if not r.ok]
    later = [(turn, messages, r) for turn, messages, r in warm if turn > 1 and r.ok]
    if not later:
        raise MultiTurnError(f"no conversation reached a second turn; errors: {failed[:3]}")
    cold_requests = []
    for i, (_, messages, r) in enumerate(later):
        first = messages[0]
        fresh = words_text(-(seed * 1_000_003 + i + 1), 1).rstrip(".")
        twin = [{**first, "content": f"{fresh} {first['content']}"}, *messages[1:]]
        cold_requests.append(PreparedRequest(CHAT, {"model": model, "messages": twin,
                                                    "max_tokens": output_tokens,
                                                    "temperature": 0}, None, output_tokens))
    progress(f"multi-turn: {len(cold_requests)} cold twins (same messages, the shared prefix "
             "broken by one fresh word)")
    cold = eventloop.run(run_load(base_url, cold_requests, concurrency, 0, api_key,
                                  progress=lambda m: None)).records
    by_turn = []
    for turn in range(1, turns + 1):
        mine = [r for t, _, r in warm if t == turn and r.ok]
        twins = [c for (t, _, _), c in zip(later, cold) if t == turn and c.ok]
        row = {"turn": turn, "requests": len(mine),
               "median_prompt_tokens": _median([r.prompt_tokens for r in mine]),
               "median_ttft_ms": _median([r.ttft_s * 1000 for r in mine]),
               "median_cold_prompt_tokens": _median([c.prompt_tokens for c in twins]),
               "median_cold_ttft_ms": _median([c.ttft_s * 1000 for c in twins])}
        if row["median_ttft_ms"] and row["median_cold_ttft_ms"]:
            row["cold_over_shared"] = row["median_cold_ttft_ms"] / row["median_ttft_ms"]
        by_turn.append(row)
    reported = [(r.cached_tokens, r.prompt_tokens) for _, _, r in warm
                if r.ok and r.cached_tokens is not None]
    counters = counters or {}
    queries = counters.get("prefix_cache_queries")
    return {
        "conversations": conversations, "turns": turns, "user_words": user_words,
        "output_tokens": output_tokens, "concurrency": concurrency, "seed": seed,
        "failed_turns": len(failed), "errors": failed[:5],
        "cold_failed": sum(not c.ok for c in cold),
        "prefix_cache_hit_rate_server": counters["prefix_cache_hits"] / queries
        if queries else None,
        "prefix_cache_hit_rate_usage": sum(c for c, _ in reported) / sum(p for _, p in reported)
        if reported else None,
        "server_counters_delta": counters or None,
        "by_turn": by_turn,
    }
