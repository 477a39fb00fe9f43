import math

import pytest

from pytest_ascend_oss.gates import FAIL, NOT_MEASURED, PASS, Gate, all_passed


@pytest.mark.parametrize("value, op, bound, passed", [
    (99.0, "<", 100, True), (100.0, "<", 100, False), (100.0, "<=", 100, True),
    (0.95, ">=", 0.95, True), (0.9499, ">=", 0.95, False), (2000.0, ">", 2000, False),
])
def test_comparisons_are_exact_at_the_bound(value, op, bound, passed):
    assert Gate("g", value, op, bound).passed is passed


@pytest.mark.parametrize("value", [None, math.nan])
def test_unmeasured_never_passes(value):
    gate = Gate("hidden-state cosine", value, ">=", 0.99, note="no checkpoint")
    assert not gate.passed and gate.status == NOT_MEASURED
    assert "was not measured: no checkpoint" in gate.message()


def test_message_names_value_bound_source_evidence_and_why():
    gate = Gate("median TPOT", 30.0, "<", 20, "ms", "c1.json:median_tpot_ms", "t.toml [p] k",
                note="slow")
    assert gate.status == FAIL
    assert gate.message() == ("median TPOT = 30.00 ms, required < 20 ms (t.toml [p] k); "
                              "evidence: c1.json:median_tpot_ms; slow")
    assert Gate("r", 0.9912, ">=", 0.99).status == PASS


def test_all_passed_needs_at_least_one_gate():
    assert not all_passed([])
    assert all_passed([Gate("a", 1.0, ">=", 1)])
    assert not all_passed([Gate("a", 1.0, ">=", 1), Gate("b", None, ">=", 1)])


def test_unknown_comparison_is_refused():
    with pytest.raises(ValueError, match="unknown comparison '=>'"):
        Gate("g", 1.0, "=>", 1)
