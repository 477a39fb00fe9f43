"""One pass/fail rule for every criterion of every suite, so the CLI, the tests and the reports
cannot disagree: a measured value, the bound it must meet and how, its unit, where the evidence
is and where the bound came from. A value that was not measured never passes."""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
PASS, FAIL, NOT_MEASURED = "PASS", "FAIL", "NOT MEASURED"


@dataclass(frozen=True)
class Gate:
    name: str
    value: float | None   # None (or NaN): not measured, which is never a pass
    op: str               # how the value must compare with the bound: > >= < <=
    bound: float
    unit: str = ""
    evidence: str = ""    # where the measurement can be read: file[:key]
    source: str = ""      # where the bound came from: file [profile] suite.key
    note: str = ""        # why it was not measured, or what else a reader needs

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"gate {self.name!r}: unknown comparison {self.op!r}; "
                             f"choose one of {' '.join(OPS)}")

    @property
    def measured(self) -> bool:
        return self.value is not None and not (isinstance(self.value, float)
                                               and math.isnan(self.value))

    @property
    def passed(self) -> bool:
        return self.measured and bool(OPS[self.op](self.value, self.bound))

    @property
    def status(self) -> str:
        if not self.measured:
            return NOT_MEASURED
        return PASS if self.passed else FAIL

    def message(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        required = f"required {self.op} {self.bound:g}{unit}"
        source = f" ({self.source})" if self.source else ""
        evidence = f"; evidence: {self.evidence}" if self.evidence else ""
        if not self.measured:
            return (f"{self.name} was not measured{': ' + self.note if self.note else ''}; "
                    f"{required}{source}")
        note = f"; {self.note}" if self.note and not self.passed else ""
        return f"{self.name} = {fmt(self.value)}{unit}, {required}{source}{evidence}{note}"


def fmt(value: float) -> str:
    """Enough digits to see a failure against a bound like 0.99 or 100 ms, no more."""
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"


def all_passed(gates: list[Gate]) -> bool:
    """True only when there is at least one gate and every one passed."""
    return bool(gates) and all(g.passed for g in gates)
