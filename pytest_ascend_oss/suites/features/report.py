"""The guide's feature table, filled: ``features.md`` (功能 / 状态 / 说明) and ``features.json``,
rewritten after every check so an interrupted run keeps what it measured."""

from __future__ import annotations

from pathlib import Path

from ...report.files import write_json_atomic, write_text_atomic
from .rows import FAILED, NOT_RUN, PASSED, ROWS, UNSUPPORTED, row_status

MARK = {PASSED: "✅ measured", FAILED: "❌ failed", NOT_RUN: "— not run",
        UNSUPPORTED: "— not supported by this backend"}


class FeatureTable:
    def __init__(self, directory: Path, profile: str):
        self.directory, self.profile = Path(directory), profile
        self.checks: dict[str, dict[str, dict]] = {row: {} for row, _ in ROWS}

    def record(self, row: str, check: str, status: str, note: str, **figures) -> None:
        self.checks[row][check] = {"status": status, "note": note, **figures}
        self.write()

    def status(self, row: str) -> str:
        return row_status(self.checks[row])

    def write(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.directory / "features.json", {
            "profile": self.profile,
            "rows": {row: {"feature": name, "status": self.status(row),
                           "checks": self.checks[row]} for row, name in ROWS}})
        write_text_atomic(self.directory / "features.md", self.markdown())

    def markdown(self) -> str:
        out = [f"# 功能状态矩阵 / Feature matrix (profile {self.profile})", "",
               "| 功能 | 状态 | 说明 |", "|---|---|---|"]
        for row, name in ROWS:
            checks = self.checks[row]
            notes = "; ".join(f"{check}: {c['note']}" for check, c in checks.items()) \
                or "no check of this row ran in this session"
            out.append(f"| {name} | {MARK[self.status(row)]} | {_cell(notes)} |")
        out += ["", "Evidence per check: `features.json` (figures, failures, server errors)."]
        return "\n".join(out) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:1200]
