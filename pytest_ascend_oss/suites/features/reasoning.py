"""Reasoning as gpt-oss serves it: the analysis channel arrives in the reasoning field
(``reasoning`` or ``reasoning_content``, by vLLM version), the final answer holds no harmony
markup, every ``reasoning_effort`` is accepted, and the reasoning's length per effort (a real
model reasons longer at ``high``)."""

from __future__ import annotations

import statistics

from ...transport import vllm
from ...transport.client import Client, ServerError
from ...transport.http import sync_client
from .tool_calling import HARMONY_MARKUP

EFFORTS = ("low", "medium", "high")
QUESTIONS = ("What is the capital of France?", "say hi",
             "A train leaves at 9:40 and arrives at 11:05. How long is the trip?")
MAX_TOKENS = 2048   # gpt-oss-20b at high effort reasons for hundreds of tokens


def problem_of(message: dict, finish_reason: str | None) -> str | None:
    content, reasoning = message.get("content") or "", vllm.reasoning_of(message)
    if not reasoning.strip():
        return ("no reasoning field: the analysis did not arrive in 'reasoning' or "
                "'reasoning_content' (is --reasoning-parser openai_gptoss on?); "
                f"content {content[:160]!r}")
    if finish_reason != "stop":
        return f"finish_reason {finish_reason!r}, not 'stop' (max_tokens {MAX_TOKENS})"
    if not content.strip():
        return "no final answer in content"
    leaked = [m for m in HARMONY_MARKUP if m in content or m in reasoning]
    if leaked:
        return f"harmony markup {leaked} in the reply: {content[:160]!r}"
    return None


def by_effort(client: Client, base_url: str, api_key) -> dict:
    """Every question at every effort, greedy: the problems found and the reasoning's length
    in tokens (the server's own /tokenize) per effort."""
    rows, lengths = [], {e: [] for e in EFFORTS}
    with sync_client(base_url, api_key) as http:
        for effort in EFFORTS:
            for question in QUESTIONS:
                try:
                    answer = client.post("/v1/chat/completions", {
                        "messages": [{"role": "user", "content": question}],
                        "reasoning_effort": effort, "temperature": 0.0,
                        "max_tokens": MAX_TOKENS})["choices"][0]
                except ServerError as exc:
                    rows.append({"effort": effort, "question": question,
                                 "problem": f"request refused: {exc}"})
                    continue
                message = answer["message"]
                reasoning = vllm.reasoning_of(message)
                tokens = len(vllm.tokenize(http, client.model, reasoning)) if reasoning else 0
                lengths[effort].append(tokens)
                rows.append({"effort": effort, "question": question,
                             "reasoning_tokens": tokens,
                             "content": (message.get("content") or "")[:200],
                             "problem": problem_of(message, answer["finish_reason"])})
    medians = {e: statistics.median(v) if v else None for e, v in lengths.items()}
    return {"rows": rows, "median_reasoning_tokens": medians,
            "problems": [r for r in rows if r["problem"]]}
