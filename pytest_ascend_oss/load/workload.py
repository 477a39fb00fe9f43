"""Requests of exact size: prompts of N tokens by the server's own count, distinct per request.

Distinct prompts keep the prefix cache from flattering TTFT; exact sizes keep runs comparable.
Text is made of seeded pseudo-words, tokenized (``sizing.py``: by the server's ``/tokenize``, or
a local copy of its tokenizer where the server has none), cut to N tokens, turned back into
text and re-counted until the count is exact. Completions requests then send the token ids
themselves, so the server sees exactly N tokens; chat requests send the text, sized by
subtracting the chat template's overhead measured from ``usage.prompt_tokens`` of a probe
request. With no tokenizer at all, prompts are about N tokens (``sizing.UsageRatio``) and carry
no requested size: the server's usage is the only count.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from ..transport import vllm
from ..transport.http import ServerError
from . import sizing

SYLLABLES = ("ka", "lo", "mi", "ten", "ra", "vo", "sel", "du", "pan", "e", "ri", "son", "ta",
             "ne", "gor", "li", "am", "bu", "cha", "fe", "wil", "o", "zu", "ber", "is", "quo")
ENDPOINTS = {"completions": "/v1/completions", "chat": "/v1/chat/completions"}


class WorkloadError(RuntimeError):
    pass


@dataclass(frozen=True)
class PreparedRequest:
    path: str
    body: dict
    prompt_tokens: int | None  # None: sized approximately, the server's usage counts
    output_tokens: int


def pseudo_text(rng: random.Random, words: int) -> str:
    return " ".join("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
                    for _ in range(words)).capitalize() + "."


def words_text(seed: int, words: int) -> str:
    return pseudo_text(random.Random(seed), words)


def exact_text(sizer, tokens: int, seed: int) -> tuple[str, list[int]]:
    """Text that ``sizer`` (the server's or a local tokenizer) counts as exactly ``tokens`` ids,
    and those ids."""
    text = words_text(seed, tokens)  # every pseudo-word is at least one token
    ids = sizer.encode(text)
    cut = tokens
    for _ in range(8):  # cutting can merge or split across the boundary: adjust and re-count
        candidate = sizer.decode(ids[:cut])
        counted = sizer.encode(candidate)
        if len(counted) == tokens:
            return candidate, counted
        cut += tokens - len(counted)
    raise WorkloadError(f"could not make a prompt of exactly {tokens} tokens (seed {seed})")


def prepare(http: httpx.Client, model: str, endpoint: str, count: int, prompt_tokens: int,
            output_tokens: int, seed: int = 0, sizer=None) -> list[PreparedRequest]:
    """``count`` distinct requests of ``prompt_tokens`` in and exactly ``output_tokens`` out,
    sized by ``sizer`` (``sizing.choose``; default: the server's /tokenize)."""
    if endpoint not in ENDPOINTS:
        raise WorkloadError(f"unknown endpoint {endpoint!r}; choose {', '.join(ENDPOINTS)}")
    sizer = sizer or sizing.ServerTokenizer(http, model)
    try:
        return _prepare(http, model, endpoint, count, prompt_tokens, output_tokens, seed, sizer)
    except ServerError as exc:  # /tokenize or the chat probe refused: the workload cannot be made
        raise WorkloadError(str(exc)) from None


def _prepare(http: httpx.Client, model: str, endpoint: str, count: int, prompt_tokens: int,
             output_tokens: int, seed: int, sizer) -> list[PreparedRequest]:
    common = {"max_tokens": output_tokens, "temperature": 0, "ignore_eos": True}
    overhead = vllm.chat_overhead(http, model, sizer.count) if endpoint == "chat" else 0
    if prompt_tokens - overhead < 1:
        raise WorkloadError(f"prompt of {prompt_tokens} tokens is smaller than the chat template "
                            f"({overhead} tokens)")
    requests = []
    for i in range(count):
        request_seed = seed * 1_000_003 + i
        if sizer.exact:
            text, ids = exact_text(sizer, prompt_tokens - overhead, request_seed)
        else:
            text = words_text(request_seed, sizer.words_for(prompt_tokens - overhead))
            ids = None
        if endpoint == "completions":
            body = {"model": model, "prompt": text if ids is None else ids, **common}
        else:
            # gpt-oss chat ends at harmony stop tokens whatever ignore_eos says; the achieved
            # output length is checked against the request, never assumed.
            body = {"model": model, "messages": [{"role": "user", "content": text}], **common}
        requests.append(PreparedRequest(ENDPOINTS[endpoint], body,
                                        prompt_tokens if sizer.exact else None, output_tokens))
    return requests
