"""``results.json``: everything a run measured, written after every test so nothing is lost."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .files import write_json_atomic

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
        write_json_atomic(self.path, self.data, indent=2)
