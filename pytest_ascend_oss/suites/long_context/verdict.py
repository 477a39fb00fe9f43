"""The long-context criteria as gates: each case's answer, each case's first-token time, and
the recall rate over the guide's grid. The report, the CLI and the tests all judge through here.
"""

from __future__ import annotations

from ...gates import Gate
from .runner import Outcome

ANSWER_NAMES = {"guide": "needle recalled", "random": "random code recalled",
                "keyed": "keyed code recalled", "none": "no code claimed"}


def answer_gate(o: Outcome, evidence: str = "") -> Gate:
    """1 when the final answer is exactly right for the case's kind (``runner.judge``)."""
    return Gate(f"{o.case.kind} {o.case.id}: {ANSWER_NAMES[o.case.kind]}",
                1.0 if o.passed else 0.0, ">=", 1.0, "", evidence, "", o.verdict)


def ttft_bound(limits: dict, length: int) -> tuple[float, str]:
    """(seconds, key) for a case of ``length`` tokens: the profile's per-length bound for the
    smallest listed length >= it, else the flat ``ttft_max_s`` (the guide: 5 s even at 128K)."""
    for listed, bound in sorted(limits.get("ttft_max_s_by_length", {}).items()):
        if length <= listed:
            return bound, f"ttft_max_s_by_length.{listed}"
    return limits["ttft_max_s"], "ttft_max_s"


def ttft_gate(o: Outcome, limits: dict, source=lambda key: "", evidence: str = "") -> Gate:
    """First token within the case's bound; no first token: unmeasured (never a pass)."""
    bound, key = ttft_bound(limits, o.case.length)
    return Gate(f"{o.case.kind} {o.case.id}: TTFT", o.ttft_s, "<", bound, "s", evidence,
                source(key), "" if o.ttft_s is not None else f"no first token: {o.verdict}")


def case_gates(o: Outcome, limits: dict, source=lambda key: "", evidence: str = ""
               ) -> list[Gate]:
    """``limits`` is the profile's long_context table; ``source(key)`` names where a bound
    lives."""
    return [answer_gate(o, evidence), ttft_gate(o, limits, source, evidence)]


def recall_gate(grid: list[Outcome], minimum: float, source: str = "", evidence: str = ""
                ) -> Gate:
    """Share of the guide's grid recalled; an empty grid is unmeasured, not 100 %."""
    missed = [f"{o.case.id}: {o.verdict}" for o in grid if not o.passed]
    value = sum(o.passed for o in grid) / len(grid) if grid else None
    return Gate("recall over the guide's grid", value, ">=", minimum, "", evidence, source,
                "missed: " + "; ".join(missed) if missed else "")
