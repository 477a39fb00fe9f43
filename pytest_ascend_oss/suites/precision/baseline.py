"""Precision baseline files: what a reference server generated, to judge another one against.

A baseline is only comparable under the same sampling settings, model and prompt set; loading
one for another run is refused with the field that differs.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

FORMAT = "pytest-ascend-oss/precision-baseline"
# 2: perplexity on harmony conversations, hidden states of sampled positions (hidden.encode).
VERSION = 2
# Fields that must match between the baseline and the run that uses it.
MUST_MATCH = ("model", "sampling", "prompt_set.sha256", "prompt_set.renderer", "perplexity.corpus_sha256")


class BaselineError(ValueError):
    pass


def save(path: Path, baseline: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "version": VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **baseline}
    text = json.dumps(data, ensure_ascii=False)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix == ".gz":
        tmp.write_bytes(gzip.compress(text.encode()))
    else:
        tmp.write_text(text)
    tmp.replace(path)
    return path


def load(path: Path) -> dict:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BaselineError(f"{path}: baseline file not found") from None
    except OSError as exc:  # a directory, no permission
        raise BaselineError(f"{path}: cannot read the baseline file: {exc.strerror}") from None
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        data = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise BaselineError(f"{path}: not a baseline file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BaselineError(f"{path}: not a {FORMAT} file")
    if data.get("version") != VERSION:
        raise BaselineError(f"{path}: baseline version {data.get('version')}, this plugin reads "
                            f"version {VERSION}; record it again with this version")
    for key in ("model", "sampling", "prompt_set", "prompts", "perplexity"):
        if key not in data:
            raise BaselineError(f"{path}: baseline lacks {key!r}")
    # JSON object keys are strings; the top-k logprobs are keyed by token id (an int), and a
    # string key never matches the server's ids (the teacher-forced KL would read 0).
    for prompt in data["prompts"]:
        prompt["top_logprobs"] = [{int(t): lp for t, lp in pos.items()}
                                  for pos in prompt.get("top_logprobs") or []]
    return data


def _get(data: dict, dotted: str):
    for part in dotted.split("."):
        data = data.get(part, {}) if isinstance(data, dict) else None
    return data


def check_compatible(path: Path, baseline: dict, run: dict) -> None:
    """Refuse a baseline recorded under other settings, naming the field and both values."""
    for field in MUST_MATCH:
        theirs, ours = _get(baseline, field), _get(run, field)
        if isinstance(theirs, dict) and isinstance(ours, dict):
            for key in sorted(theirs.keys() | ours.keys()):
                if theirs.get(key) != ours.get(key):
                    raise BaselineError(
                        f"{path}: recorded with {field}.{key} = {theirs.get(key)!r}, this run uses "
                        f"{ours.get(key)!r}; record a new baseline with the same settings")
        elif theirs != ours:
            raise BaselineError(f"{path}: recorded with {field} = {theirs!r}, this run uses "
                                f"{ours!r}; record a new baseline with the same settings")
