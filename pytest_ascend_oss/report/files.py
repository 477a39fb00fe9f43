"""Files written whole or not at all: a run can be interrupted at any moment, and a dashboard
or a human may read a report while the next case is being measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary sibling, then rename it over ``path`` (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_json_atomic(path: Path, data: Any, indent: int = 1) -> Path:
    """JSON, non-ASCII kept readable (the reports quote Chinese answers); unknown types as str."""
    return write_text_atomic(path, json.dumps(data, indent=indent, ensure_ascii=False,
                                              default=str))
