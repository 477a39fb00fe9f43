"""The long-context suite's one orchestration: the plan's cases run once each, on first use,
the reports rewritten after every case (an interrupted 128K run keeps what it measured), every
verdict a gate. ``ascend-oss long-context`` runs the whole plan; the acceptance tests ask for
one case at a time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...gates import Gate
from ...report.files import write_text_atomic
from . import report, verdict
from .cases import Case, NeedleSettings, Plan
from .runner import Outcome, Runner


@dataclass(frozen=True)
class ReportPaths:
    json: Path
    markdown: Path
    heatmap: Path

    @classmethod
    def in_directory(cls, directory: Path) -> ReportPaths:
        """The acceptance suite's names in the results directory."""
        d = Path(directory)
        return cls(d / "long_context_report.json", d / "long_context.md",
                   d / "long_context_heatmap.png")

    @classmethod
    def beside(cls, output: Path) -> ReportPaths:
        """The guide's script: ``--output X.json`` with X.md and X.png next to it."""
        output = Path(output)
        return cls(output, output.with_suffix(".md"), output.with_suffix(".png"))


class LongContextRun:
    """``limits`` is the profile's long_context table; ``source(key)`` names where a bound came
    from."""

    def __init__(self, base_url: str, model: str, plan: Plan, settings: NeedleSettings,
                 limits: dict, source: Callable[[str], str], paths: ReportPaths, profile: str,
                 api_key: str | None = None, log_path: Path | None = None,
                 progress: Callable[[str], None] | None = None):
        self.plan, self.settings, self.limits, self.source = plan, settings, limits, source
        self.paths, self.profile = paths, profile
        self.runner = Runner(base_url, model, settings, api_key=api_key, log_path=log_path,
                             progress=progress, health_check_from=max(plan.lengths))
        self._outcomes: dict[Case, Outcome] = {}
        self._started = time.monotonic()

    def close(self) -> None:
        self.runner.close()

    @property
    def outcomes(self) -> list[Outcome]:
        return list(self._outcomes.values())

    def outcome(self, case: Case) -> Outcome:
        if case not in self._outcomes:
            self._outcomes[case] = self.runner.run(case)
            self._write_reports()
        return self._outcomes[case]

    def gates(self, case: Case) -> list[Gate]:
        """The case's answer and TTFT gates (runs the case if it has not run)."""
        return verdict.case_gates(self.outcome(case), self.limits, self.source,
                                  str(self.paths.json))

    def recall(self) -> Gate:
        """Recall over the guide's grid (runs every grid case it has to)."""
        grid = [self.outcome(c) for c in self.plan.grid()]
        return verdict.recall_gate(grid, self.limits["recall_min"], self.source("recall_min"),
                                   str(self.paths.json))

    def run_all(self) -> list[Gate]:
        """Every case of the plan, then every gate: what the guide's script judges."""
        cases = self.plan.cases()
        return [g for c in cases for g in self.gates(c)] + [self.recall()]

    def markdown(self) -> str:
        return report.markdown(self.outcomes, self.limits, self.profile)

    def meta(self) -> dict:
        s = self.settings
        return {"model": self.runner.model, "base_url": self.runner.base_url,
                "profile": self.profile, "needle": s.needle, "question": s.question,
                "max_tokens": s.max_tokens, "reasoning_effort": s.reasoning_effort,
                "language": s.language, "max_model_len": self.runner.max_model_len,
                "ttft_max_s": self.limits["ttft_max_s"],
                "ttft_max_s_by_length": self.limits.get("ttft_max_s_by_length", {}),
                "recall_min": self.limits["recall_min"],
                "wall_time_s": round(time.monotonic() - self._started, 1)}

    def _write_reports(self) -> None:
        outcomes = self.outcomes
        report.write_json(self.paths.json, outcomes, self.meta())
        write_text_atomic(self.paths.markdown, self.markdown())
        report.heatmap(self.paths.heatmap, outcomes, self.limits)
