"""Collecting from one server what the precision comparison needs: greedy generations as token
ids with their top-k logprobs, the logprobs of the perplexity conversations' assistant tokens,
and the candidate's logprobs teacher-forced on the reference's outputs.

Both sides get the same prompt token ids on ``/v1/completions`` at temperature 0, top_p 1 and the
same max_tokens (the chat endpoint is a fallback: the server renders, with its own date).
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from ...transport.vllm import reasoning_of

TOP_K = 5


def sampling(max_tokens: int = 256) -> dict:
    """The guide's settings: temperature 0, top_p 1, max_tokens 256."""
    return {"temperature": 0.0, "top_p": 1.0, "max_tokens": max_tokens, "logprobs": TOP_K}


class PrecisionError(RuntimeError):
    pass


def _post(http: httpx.Client, body: dict) -> dict:
    answer = http.post("/v1/completions", json=body)
    if answer.status_code != 200:
        raise PrecisionError(f"/v1/completions answers {answer.status_code}: {answer.text[:400]}")
    return answer.json()["choices"][0]


def _ids_logprobs(entries: list[dict]) -> list[dict[int, float]]:
    """vLLM top_logprobs with return_tokens_as_token_ids ("token_id:123" keys) -> {id: lp}."""
    return [{int(tok.split(":", 1)[1]): lp for tok, lp in (entry or {}).items()}
            for entry in entries]


def generate(http: httpx.Client, model: str, prompt_ids: list[int], settings: dict) -> dict:
    choice = _post(http, {"model": model, "prompt": prompt_ids, **settings,
                          "return_token_ids": True, "return_tokens_as_token_ids": True})
    if choice.get("token_ids") is None:
        raise PrecisionError("the server ignores return_token_ids (vLLM >= 0.10.2 supports it)")
    return {"generated_ids": choice["token_ids"], "text": choice["text"],
            "top_logprobs": _ids_logprobs(choice["logprobs"]["top_logprobs"]),
            "finish_reason": choice.get("finish_reason")}


def generate_chat(http: httpx.Client, model: str, messages: list[dict], settings: dict) -> dict:
    """Chat-endpoint variant: the server renders the prompt (with its own date: see docs)."""
    body = {"model": model, "messages": messages, "temperature": settings["temperature"],
            "top_p": settings["top_p"], "max_tokens": settings["max_tokens"], "logprobs": True,
            "top_logprobs": settings["logprobs"], "return_token_ids": True,
            "return_tokens_as_token_ids": True}
    answer = http.post("/v1/chat/completions", json=body)
    if answer.status_code != 200:
        raise PrecisionError(f"/v1/chat/completions answers {answer.status_code}: "
                             f"{answer.text[:400]}")
    data = answer.json()
    choice = data["choices"][0]
    if choice.get("token_ids") is None or data.get("prompt_token_ids") is None:
        raise PrecisionError("the server ignores return_token_ids on chat (vLLM >= 0.10.2)")
    message = choice["message"]
    text = "\n".join(t for t in (reasoning_of(message), message.get("content")) if t)
    top = [{int(e["token"].split(":", 1)[1]): e["logprob"] for e in pos["top_logprobs"]}
           for pos in (choice.get("logprobs") or {}).get("content") or []]
    return {"prompt_ids": data["prompt_token_ids"], "generated_ids": choice["token_ids"],
            "text": text, "top_logprobs": top, "finish_reason": choice.get("finish_reason")}


def prompt_logprobs(http: httpx.Client, model: str, ids: list[int], k: int = 0
                    ) -> list[dict[int, float]]:
    """Per-position logprobs of a prompt (vLLM's ``prompt_logprobs``), the first position
    excluded: the actual token's and the top-k."""
    choice = _post(http, {"model": model, "prompt": ids, "max_tokens": 1, "temperature": 0,
                          "prompt_logprobs": k})
    entries = choice.get("prompt_logprobs")
    if not entries:
        raise PrecisionError("the server returned no prompt_logprobs (a vLLM extension)")
    return [{int(t): v["logprob"] for t, v in entry.items()} for entry in entries[1:]]


def conversation_logprobs(http: httpx.Client, model: str, conversations: list[dict]
                          ) -> list[list[float]]:
    """Per rendered conversation (see ``conversations.render``): the logprob of each of the
    assistant's tokens given everything before it."""
    out = []
    for c in conversations:
        ids, start = c["ids"], c["score_from"]
        positions = prompt_logprobs(http, model, ids, 0)  # positions[j - 1] scores ids[j]
        out.append([positions[j - 1][ids[j]] for j in range(start, len(ids))])
    return out


def collect(http: httpx.Client, model: str, rendered: list[dict], settings: dict,
            conversations: list[dict], progress: Callable[[str], None] = print,
            endpoint: str = "completions") -> dict:
    """Generate every prompt and score the perplexity conversations on one server."""
    prompts = []
    for i, p in enumerate(rendered, 1):
        if endpoint == "chat":
            prompts.append({**p, **generate_chat(http, model, p["messages"], settings)})
        else:
            prompts.append({**p, **generate(http, model, p["prompt_ids"], settings)})
        if i % 10 == 0 or i == len(rendered):
            progress(f"precision: {i}/{len(rendered)} prompts generated")
    return {"prompts": prompts,
            "perplexity": {"conversations": conversations,
                           "logprobs": conversation_logprobs(http, model, conversations)}}


def teacher_forced(http: httpx.Client, model: str, reference: list[dict]) -> list[dict]:
    """Feed the reference's own outputs as prompts; the candidate's top-k at each position."""
    out = []
    for p in reference:
        positions = prompt_logprobs(http, model, p["prompt_ids"] + p["generated_ids"], TOP_K)
        out.append({"id": p["id"], "positions": positions[len(p["prompt_ids"]) - 1:]})
    return out
