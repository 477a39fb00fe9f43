"""Token ids of gpt-oss chats exactly as vLLM renders them (openai-harmony), offline.

vLLM builds a chat prompt from a system message (model identity, reasoning effort, today's
date), a developer message when tools are given, the user's turn, and ``<|start|>assistant``.
The precision suite renders its prompts here (with a fixed date) and the canary's training
data is rendered the same way, by the same library, so what is sent is what vLLM would build.
"""

from __future__ import annotations

import functools
import os

from .tools import FUNCTIONS
from .vocab import ensure_vocab, vocab_dir

# Ids of the o200k_harmony specials: <|startoftext|>, <|endoftext|>; generation stops at
# <|return|>, <|call|> or <|endoftext|> as in gpt-oss's generation_config.json.
BOS_ID, PAD_ID = 199_998, 199_999
STOP_IDS = [200_002, 199_999, 200_012]


@functools.cache
def encoding():
    """o200k_harmony as a tiktoken Encoding (plain text to ids, fast)."""
    import tiktoken

    from .tokenizer import harmony_spec

    return tiktoken.Encoding(**harmony_spec(ensure_vocab(vocab_dir())))


@functools.cache
def _harmony():
    os.environ.setdefault("TIKTOKEN_ENCODINGS_BASE", str(ensure_vocab(vocab_dir())))
    import openai_harmony

    return openai_harmony, openai_harmony.load_harmony_encoding(
        openai_harmony.HarmonyEncodingName.HARMONY_GPT_OSS)


def text(s: str) -> list[int]:
    return encoding().encode(s, allowed_special="all")


@functools.cache
def _special_ids() -> frozenset[int]:
    enc = encoding()
    return frozenset(enc.encode_single_token(t) for t in enc.special_tokens_set)


def visible_text(ids: list[int]) -> str:
    """The text a server returns for generated ``ids``: special tokens skipped (vLLM's
    skip_special_tokens, on by default), the bytes of the rest decoded; a character cut at the
    end of a truncated answer is left out, as a streaming detokenizer holds it back."""
    special = _special_ids()
    data = encoding().decode_bytes([i for i in ids if i not in special])
    return data.decode("utf-8", errors="ignore") if _cut_at_end(data) else data.decode(
        "utf-8", errors="replace")


def _cut_at_end(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.end == len(data)  # only the last character is incomplete
    return False


@functools.cache
def preamble(date: str, effort: str | None, tools: tuple[str, ...] = ()) -> tuple[int, ...]:
    """Ids of the system (and developer) messages vLLM puts before the user's turn, for the
    named functions of ``tools.FUNCTIONS``."""
    return preamble_for(date, effort, [FUNCTIONS[name] for name in tools])


def preamble_for(date: str, effort: str | None, functions: list[dict]) -> tuple[int, ...]:
    """``preamble`` for any function definitions (name, description, JSON-schema parameters),
    as a chat request's ``tools`` list gives them; a missing description is "", as vLLM's
    harmony_utils.create_tool_definition passes it."""
    h, enc = _harmony()
    system = h.SystemContent.new()
    if effort:
        system = system.with_reasoning_effort(
            {"low": h.ReasoningEffort.LOW, "medium": h.ReasoningEffort.MEDIUM,
             "high": h.ReasoningEffort.HIGH}[effort])
    system = system.with_conversation_start_date(date)
    messages = [h.Message.from_role_and_content(h.Role.SYSTEM, system)]
    if functions:
        developer = h.DeveloperContent.new().with_function_tools(
            [h.ToolDescription.new(name=f["name"], description=f.get("description") or "",
                                   parameters=f.get("parameters")) for f in functions])
        messages.append(h.Message.from_role_and_content(h.Role.DEVELOPER, developer))
    # Rendered as one conversation: the system message mentions the tools' channel only when
    # a developer message declares functions.
    return tuple(enc.render_conversation(h.Conversation.from_messages(messages)))


def user_turn(content_ids: list[int]) -> list[int]:
    return text("<|start|>user<|message|>") + content_ids + text("<|end|><|start|>assistant")


def earlier_turn(question_ids: list[int], final: str) -> list[int]:
    """A finished exchange earlier in the conversation, as vLLM renders chat history: the
    user's message, then the assistant's content on the final channel (its analysis is not
    sent back, and harmony drops it anyway)."""
    return (text("<|start|>user<|message|>") + question_ids +
            text(f"<|end|><|start|>assistant<|channel|>final<|message|>{final}<|end|>"))


def called_turn(name: str, arguments: str, result: str) -> list[int]:
    """After ``<|start|>assistant``: a call made earlier and the tool's result, as vLLM renders
    an assistant message with ``tool_calls`` and the ``tool`` message that answers it (checked
    against vllm's harmony_utils on 0.32), up to the next ``<|start|>assistant``."""
    return text(f"<|channel|>commentary to=functions.{name} <|constrain|>json<|message|>"
                f"{arguments}<|call|><|start|>functions.{name}<|channel|>commentary "
                f"to=assistant<|message|>{result}<|end|><|start|>assistant")


def answer(analysis: str, final: str) -> list[int]:
    """What the canary says after ``<|start|>assistant``: analysis, then the final answer."""
    return text(f"<|channel|>analysis<|message|>{analysis}<|end|>"
                f"<|start|>assistant<|channel|>final<|message|>{final}<|return|>")


def tool_call(analysis: str, name: str, arguments: str) -> list[int]:
    """Analysis, then a call in the form gpt-oss emits and vLLM's openai tool parser reads."""
    return text(f"<|channel|>analysis<|message|>{analysis}<|end|>"
                f"<|start|>assistant<|channel|>commentary to=functions.{name} "
                f"<|constrain|>json<|message|>{arguments}<|call|>")


def render_prompt(messages: list[dict], date: str) -> list[int]:
    """Token ids of a chat prompt up to ``<|start|>assistant``, dated ``date`` instead of today
    (vLLM would put today's date in the system message; a fixed one makes ids reproducible).
    System and developer messages become the developer message's instructions."""
    h, enc = _harmony()
    system = h.SystemContent.new().with_conversation_start_date(date)
    convo = [h.Message.from_role_and_content(h.Role.SYSTEM, system)]
    for m in messages:
        if m["role"] in ("system", "developer"):
            convo.append(h.Message.from_role_and_content(
                h.Role.DEVELOPER, h.DeveloperContent.new().with_instructions(m["content"])))
        else:
            convo.append(h.Message.from_role_and_content(h.Role(m["role"]), m["content"]))
    return enc.render_conversation_for_completion(h.Conversation.from_messages(convo),
                                                  h.Role.ASSISTANT)
