"""``results.json``: everything a run measured, written after every test so nothing is lost."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


class ResultsStore:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.path = self.directory / "results.json"
        self.data: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "settings": {},
            "profile": {},
            "environment": {},
            "server": {},
            "tests": {},
        }

    def set(self, section: str, value: Any) -> None:
        self.data[section] = value
        self.save()

    def test(self, nodeid: str) -> dict:
        return self.data["tests"].setdefault(nodeid, {"measurements": {}})

    def measure(self, nodeid: str, name: str, value: Any, threshold: Any = None,
                unit: str | None = None, source: str | None = None) -> None:
        entry: dict[str, Any] = {"value": value}
        if threshold is not None:
            entry["threshold"] = threshold
        if unit:
            entry["unit"] = unit
        if source:
            entry["threshold_source"] = source
        self.test(nodeid)["measurements"][name] = entry

    def save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str, ensure_ascii=False))
        tmp.replace(self.path)  # atomic: a reader never sees half a file
