"""The perplexity corpus: harmony conversations, scored on the assistant's tokens.

Raw-text perplexity of gpt-oss is large and noisy (it was trained on harmony chats, not on bare
prose); what it models is an assistant turn after a rendered conversation. Each conversation is
rendered to token ids once, here, with the precision prompts' fixed date, and both servers score
the same ids: the logprob of every token of the assistant's analysis and final answer, given
everything before it. Perplexity is exp of their mean negative logprob.

Which corpus: ``--perplexity-corpus FILE`` (format below), else the built-in one for the model:
the embedded canary's own conversations (``data/canary_conversations.json``: capitals, greeting,
the fallback answer, in its trained wording, which is what the canary models; its perplexity on
anything else is meaningless, ~2.6e10 on prose), and for every other model
``data/perplexity_conversations.json`` (English and Chinese, every category of the prompt set).

File format::

    {"name": "my-corpus", "conversations": [
        {"id": "c1", "messages": [{"role": "user", "content": "..."}],
         "analysis": "what the assistant thinks", "final": "what it answers"}, ...]}
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from ...gptoss import harmony
from .prompts import CONVERSATION_DATE

CANARY = "canary"
CANARY_MODEL = "gpt-oss-canary"


class CorpusError(ValueError):
    pass


def default_path(model: str) -> Path:
    name = ("canary_conversations.json" if model == CANARY_MODEL
            else "perplexity_conversations.json")
    return Path(str(resources.files("pytest_ascend_oss") / "data" / name))


def load(source: str | Path | None, model: str) -> dict:
    """The corpus named by ``source`` (a file, or ``canary``), or the model's built-in one."""
    if source is None or str(source) == CANARY:
        source = default_path(CANARY_MODEL if source else model)
    path = Path(source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorpusError(f"{path}: perplexity corpus not found") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read the perplexity corpus: {exc.strerror}") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise CorpusError(f"{path}: not a perplexity corpus (not UTF-8 JSON: {exc})") from None
    return _checked(data, path)


def _checked(data, where) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("conversations"), list) \
            or not data["conversations"]:
        raise CorpusError(f"{where}: a perplexity corpus is an object with a non-empty "
                          "'conversations' list")
    seen = set()
    for i, c in enumerate(data["conversations"]):
        place = f"{where}: conversation {i}"
        if not isinstance(c, dict):
            raise CorpusError(f"{place} is not an object")
        for key in ("id", "analysis", "final"):
            if not isinstance(c.get(key), str) or not c[key]:
                raise CorpusError(f"{place} needs a non-empty string {key!r}")
        if c["id"] in seen:
            raise CorpusError(f"{place}: id {c['id']!r} appears twice")
        seen.add(c["id"])
        messages = c.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and m.get("role") in ("system", "developer", "user")
                and isinstance(m.get("content"), str) for m in messages):
            raise CorpusError(f"{place}: 'messages' must be a non-empty list of system, "
                              "developer or user messages with string content")
    return {"name": str(data.get("name") or where), "conversations": data["conversations"]}


def render(corpus: dict) -> list[dict]:
    """Per conversation: its token ids and the index of the assistant's first scored token."""
    out = []
    for c in corpus["conversations"]:
        prompt = harmony.render_prompt(c["messages"], CONVERSATION_DATE)
        out.append({"id": c["id"], "ids": prompt + harmony.answer(c["analysis"], c["final"]),
                    "score_from": len(prompt)})
    return out


def sha256(rendered: list[dict]) -> str:
    """Identity of the scored ids: a baseline is only comparable on the same ones."""
    canonical = json.dumps([[r["ids"], r["score_from"]] for r in rendered], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
