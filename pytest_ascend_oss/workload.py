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


def tokenize(http: httpx.Client, model: str, text: str) -> list[int]:
    answer = http.post("/tokenize", json={"model": model, "prompt": text,
                                          "add_special_tokens": False})
    if answer.status_code != 200:
        raise WorkloadError(f"/tokenize answers {answer.status_code}: {answer.text[:300]} "
                            "(exact prompt sizes need the server's own token count)")
    return answer.json()["tokens"]


def _detokenize(http: httpx.Client, model: str, ids: list[int]) -> str:
    answer = http.post("/detokenize", json={"model": model, "tokens": ids})
    if answer.status_code != 200:
        raise WorkloadError(f"/detokenize answers {answer.status_code}: {answer.text[:300]}")
    return answer.json()["prompt"]


def exact_text(http: httpx.Client, model: str, tokens: int, seed: int) -> tuple[str, list[int]]:
    """Text that the server tokenizes to exactly ``tokens`` ids (and those ids)."""
    rng = random.Random(seed)
    text = pseudo_text(rng, tokens)  # every pseudo-word is at least one token
    ids = tokenize(http, model, text)
    cut = tokens
    for _ in range(8):  # cutting can merge or split across the boundary: adjust and re-count
        candidate = _detokenize(http, model, ids[:cut])
        counted = tokenize(http, model, candidate)
        if len(counted) == tokens:
            return candidate, counted
        cut += tokens - len(counted)
    raise WorkloadError(f"could not make a prompt of exactly {tokens} tokens (seed {seed})")


def chat_overhead(http: httpx.Client, model: str) -> int:
    """Tokens the chat template adds around a user message, from the server's usage."""
    probe = "Hello there."
    answer = http.post("/v1/chat/completions", json={
        "model": model, "messages": [{"role": "user", "content": probe}], "max_tokens": 1})
    if answer.status_code != 200:
        raise WorkloadError(f"chat probe answers {answer.status_code}: {answer.text[:300]}")
    return answer.json()["usage"]["prompt_tokens"] - len(tokenize(http, model, probe))


def prepare(http: httpx.Client, model: str, endpoint: str, count: int, prompt_tokens: int,
            output_tokens: int, seed: int = 0) -> list[PreparedRequest]:
    """``count`` distinct requests of ``prompt_tokens`` in and exactly ``output_tokens`` out."""
    if endpoint not in ENDPOINTS:
        raise WorkloadError(f"unknown endpoint {endpoint!r}; choose {', '.join(ENDPOINTS)}")
    common = {"max_tokens": output_tokens, "temperature": 0, "ignore_eos": True}
    overhead = chat_overhead(http, model) if endpoint == "chat" else 0
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
