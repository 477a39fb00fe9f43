"""vLLM's own endpoints beside the OpenAI ones, and the differences between vLLM versions that
callers should not have to know: ``/tokenize``, ``/detokenize``, ``/version``, ``/health``,
``max_model_len`` from ``/v1/models``, the chat template's share of a prompt, and the field
the reasoning text arrives in (``reasoning``, or ``reasoning_content`` before vLLM 0.11)."""

from __future__ import annotations

import httpx

from .http import ServerError

REASONING_FIELDS = ("reasoning", "reasoning_content")


def tokenize(http: httpx.Client, model: str, text: str) -> list[int]:
    """The server's own token ids for ``text`` (no special tokens added)."""
    answer = http.post("/tokenize", json={"model": model, "prompt": text,
                                          "add_special_tokens": False})
    if answer.status_code != 200:
        raise ServerError(f"/tokenize answers {answer.status_code}: {answer.text[:300]} "
                          "(exact sizes need the server's own token count)")
    return answer.json()["tokens"]


def detokenize(http: httpx.Client, model: str, ids: list[int]) -> str:
    answer = http.post("/detokenize", json={"model": model, "tokens": ids})
    if answer.status_code != 200:
        raise ServerError(f"/detokenize answers {answer.status_code}: {answer.text[:300]}")
    return answer.json()["prompt"]


def version(http: httpx.Client) -> str | None:
    """vLLM's version as the server reports it, or None when it does not say."""
    try:
        answer = http.get("/version", timeout=10)
        return answer.json().get("version") if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def health_problem(http: httpx.Client) -> str | None:
    """None when ``/health`` is 200, else what went wrong."""
    try:
        answer = http.get("/health", timeout=10)
    except httpx.HTTPError as exc:
        return f"/health: {type(exc).__name__}: {exc}"
    return None if answer.status_code == 200 else f"/health answers {answer.status_code}"


def max_model_len(http: httpx.Client, model: str) -> int | None:
    """The served model's context limit from ``/v1/models`` (a vLLM field), if listed."""
    for m in http.get("/v1/models").json().get("data") or []:
        if m.get("id") == model and m.get("max_model_len"):
            return int(m["max_model_len"])
    return None


def chat_overhead(http: httpx.Client, model: str, count=None, **body) -> int:
    """Tokens the chat template adds around a user message, from the server's own usage.

    ``/tokenize`` with chat messages needs a template in the tokenizer, which gpt-oss servers
    (rendered by harmony) may lack; ``usage.prompt_tokens`` of a one-token request always works.
    ``count(text)`` counts the bare message (default: the server's /tokenize); ``body`` holds
    fields that change the template (e.g. ``reasoning_effort``).
    """
    count = count or (lambda text: len(tokenize(http, model, text)))
    probe = "Hello there."
    answer = http.post("/v1/chat/completions", json={
        **body, "model": model, "messages": [{"role": "user", "content": probe}],
        "max_tokens": 1})
    if answer.status_code != 200:
        raise ServerError(f"chat probe answers {answer.status_code}: {answer.text[:300]}")
    return answer.json()["usage"]["prompt_tokens"] - count(probe)


def reasoning_of(message: dict) -> str:
    """The analysis text of a chat message or delta, whichever field this vLLM uses."""
    for name in REASONING_FIELDS:
        if message.get(name):
            return message[name]
    return ""
