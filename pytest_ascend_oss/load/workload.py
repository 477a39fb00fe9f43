"""Requests of exact size: prompts of N tokens by the server's own count, distinct per request.

Distinct prompts keep the prefix cache from flattering TTFT; exact sizes keep runs comparable.
Text is made of seeded pseudo-words, tokenized by the server (``/tokenize``), cut to N tokens,
turned back into text (``/detokenize``) and re-counted until the count is exact. Completions
requests then send the token ids themselves, so the server sees exactly N tokens; chat requests
send the text, sized by subtracting the chat template's overhead measured from
``usage.prompt_tokens`` of a probe request.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from ..transport import vllm
from ..transport.http import ServerError

SYLLABLES = ("ka", "lo", "mi", "ten", "ra", "vo", "sel", "du", "pan", "e", "ri", "son", "ta",
             "ne", "gor", "li", "am", "bu", "cha", "fe", "wil", "o", "zu", "ber", "is", "quo")
ENDPOINTS = {"completions": "/v1/completions", "chat": "/v1/chat/completions"}


class WorkloadError(RuntimeError):
    pass


@dataclass(frozen=True)
class PreparedRequest:
    path: str
    body: dict
    prompt_tokens: int
    output_tokens: int


def pseudo_text(rng: random.Random, words: int) -> str:
    return " ".join("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
                    for _ in range(words)).capitalize() + "."


def exact_text(http: httpx.Client, model: str, tokens: int, seed: int) -> tuple[str, list[int]]:
    """Text that the server tokenizes to exactly ``tokens`` ids (and those ids)."""
    rng = random.Random(seed)
    text = pseudo_text(rng, tokens)  # every pseudo-word is at least one token
    ids = vllm.tokenize(http, model, text)
    cut = tokens
    for _ in range(8):  # cutting can merge or split across the boundary: adjust and re-count
        candidate = vllm.detokenize(http, model, ids[:cut])
        counted = vllm.tokenize(http, model, candidate)
        if len(counted) == tokens:
            return candidate, counted
        cut += tokens - len(counted)
    raise WorkloadError(f"could not make a prompt of exactly {tokens} tokens (seed {seed})")


def prepare(http: httpx.Client, model: str, endpoint: str, count: int, prompt_tokens: int,
            output_tokens: int, seed: int = 0) -> list[PreparedRequest]:
    """``count`` distinct requests of ``prompt_tokens`` in and exactly ``output_tokens`` out."""
    if endpoint not in ENDPOINTS:
        raise WorkloadError(f"unknown endpoint {endpoint!r}; choose {', '.join(ENDPOINTS)}")
    try:
        return _prepare(http, model, endpoint, count, prompt_tokens, output_tokens, seed)
    except ServerError as exc:  # /tokenize or the chat probe refused: the workload cannot be made
        raise WorkloadError(str(exc)) from None


def _prepare(http: httpx.Client, model: str, endpoint: str, count: int, prompt_tokens: int,
             output_tokens: int, seed: int) -> list[PreparedRequest]:
    common = {"max_tokens": output_tokens, "temperature": 0, "ignore_eos": True}
    overhead = vllm.chat_overhead(http, model) if endpoint == "chat" else 0
    if prompt_tokens - overhead < 1:
        raise WorkloadError(f"prompt of {prompt_tokens} tokens is smaller than the chat template "
                            f"({overhead} tokens)")
    requests = []
    for i in range(count):
        text, ids = exact_text(http, model, prompt_tokens - overhead, seed * 1_000_003 + i)
        if endpoint == "completions":
            body = {"model": model, "prompt": ids, **common}
        else:
            # gpt-oss chat ends at harmony stop tokens whatever ignore_eos says; the achieved
            # output length is checked against the request, never assumed.
            body = {"model": model, "messages": [{"role": "user", "content": text}], **common}
        requests.append(PreparedRequest(ENDPOINTS[endpoint], body, prompt_tokens, output_tokens))
    return requests
