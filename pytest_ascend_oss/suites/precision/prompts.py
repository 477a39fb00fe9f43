"""The precision prompt set, and its rendering to token ids once, for both servers.

vLLM renders gpt-oss chat with openai-harmony and puts today's date in the system message, so
the same chat request differs from day to day and host to host. Precision compares token ids:
prompts are rendered here with a fixed date, sent as ids to ``/v1/completions``, and the ids are
stored in the baseline so the device under test sees exactly the same tokens.

File format (``--prompts FILE``)::

    {"name": "my-set", "prompts": [
        {"id": "qa-1", "lang": "en", "category": "factual",
         "messages": [{"role": "user", "content": "What is the capital of France?"}]},
        ...]}
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from ...gptoss import harmony

# A fixed date makes the rendering independent of when and where it runs.
CONVERSATION_DATE = "2025-08-05"
RENDERER = f"openai-harmony gpt-oss, system message dated {CONVERSATION_DATE}, reasoning medium"


class PromptError(ValueError):
    pass


def default_prompts_path() -> Path:
    return Path(str(resources.files("pytest_ascend_oss") / "data" / "precision_prompts.json"))


def load_prompts(path: Path | None) -> tuple[dict, str]:
    """(prompt set, sha256 of its canonical JSON). Bad files fail with the reason and place."""
    path = Path(path) if path else default_prompts_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PromptError(f"{path}: prompt file not found") from None
    except OSError as exc:  # a directory, no permission
        raise PromptError(f"{path}: cannot read the prompt file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PromptError(f"{path}: not a prompt file (not UTF-8 JSON)") from None
    except ValueError as exc:
        raise PromptError(f"{path}: not valid JSON: {exc}") from None
    prompts = data.get("prompts") if isinstance(data, dict) else None
    if not prompts or not isinstance(prompts, list):
        raise PromptError(f"{path}: needs a non-empty list under \"prompts\"")
    seen = set()
    for i, p in enumerate(prompts):
        where = f"{path}: prompts[{i}]"
        if not isinstance(p, dict) or not isinstance(p.get("id"), str) or not p["id"] \
                or not isinstance(p.get("messages"), list):
            raise PromptError(f"{where}: each prompt needs an \"id\" (text) and a \"messages\" "
                              "list")
        if p["id"] in seen:
            raise PromptError(f"{where}: duplicate id {p['id']!r}")
        seen.add(p["id"])
        for j, m in enumerate(p["messages"]):
            if not isinstance(m, dict):
                raise PromptError(f"{where}.messages[{j}] ({p['id']}): expected an object with "
                                  f"\"role\" and \"content\", got {m!r}")
            if m.get("role") not in ("system", "developer", "user", "assistant") or \
                    not isinstance(m.get("content"), str):
                raise PromptError(f"{where} ({p['id']}): bad message {m!r}")
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False).encode()
    data.setdefault("name", path.stem)
    return data, hashlib.sha256(canonical).hexdigest()


def render(messages: list[dict]) -> list[int]:
    """Token ids of a gpt-oss chat prompt up to ``<|start|>assistant``, dated CONVERSATION_DATE."""
    return harmony.render_prompt(messages, CONVERSATION_DATE)
