"""Long-context suite: the guide's 长上下文测试 (needle in a haystack up to 131,072 tokens).

The grid is lengths x depths: the guide's five lengths (1K, 32K, 64K, 96K, 128K) when the
context is 131,072 (``--ctx``, default the profile's ``context_length``), scaled down for a
smaller ``--ctx``, or ``--niah-lengths``; depths ``--niah-depths`` (0/25/50/75/100). Each grid
point runs once, with the guide's needle "The secret code is 7842.", and is judged twice:
recalled exactly in the final answer, and first token within the profile's bound. Variants
at every length: a fresh random code (7842 can be guessed or memorised), several keyed needles
(RULER style) and no needle at all (the answer must not invent a code).

Reports: ``long_context_report.json``, ``long_context.md`` (the guide's table) and
``long_context_heatmap.png`` in the results directory, rewritten after every case.
"""

from __future__ import annotations

import pytest

from pytest_ascend_oss.suites.long_context.cases import NeedleSettings
from pytest_ascend_oss.suites.long_context.run import LongContextRun, ReportPaths

pytestmark = pytest.mark.long_context


@pytest.fixture(scope="session")
def long_context(server, ascend_settings, thresholds, long_context_plan, progress):
    """The run: ``long_context.outcome(case)`` runs a case on first use; reports are rewritten
    after each."""
    s = ascend_settings
    settings = NeedleSettings(max_tokens=s.niah_max_tokens,
                              reasoning_effort=s.niah_reasoning_effort or None,
                              language=s.niah_language)
    run = LongContextRun(server.base_url, server.model, long_context_plan, settings,
                         thresholds.values["long_context"], thresholds.sources("long_context"),
                         ReportPaths.in_directory(s.results_dir), thresholds.name,
                         api_key=s.api_key, log_path=server.log_path, progress=progress)
    yield run
    run.close()


def _recorded(record, outcome):
    record("prompt_tokens", outcome.prompt_tokens, unit="tokens", source="/tokenize")
    record("context_tokens", outcome.context_tokens, unit="tokens")
    record("actual_depth_pct", None if outcome.actual_depth is None
           else round(outcome.actual_depth, 2))
    record("answer", outcome.content[:200])
    return outcome


def test_needle_recalled(grid_case, long_context, record):
    """The guide's needle is recalled exactly, in the final answer."""
    outcome = _recorded(record, long_context.outcome(grid_case))
    answer, _ = long_context.gates(grid_case)
    record("recalled", outcome.passed)
    assert answer.passed, f"{grid_case.id}: {outcome.verdict}"


def test_needle_ttft(grid_case, long_context, record):
    """First token within the profile's bound (the guide: < 5 s even at 128K)."""
    _, ttft = long_context.gates(grid_case)
    assert ttft.measured, f"{grid_case.id}: {ttft.message()}"
    record("ttft_s", round(ttft.value, 3), threshold=f"{ttft.op} {ttft.bound:g}", unit="s",
           source=ttft.source)
    assert ttft.passed, ttft.message()


def test_random_code_recalled(random_case, long_context, record):
    """A fresh code per case: a server that has memorised (or always says) 7842 fails here."""
    outcome = _recorded(record, long_context.outcome(random_case))
    answer, _ = long_context.gates(random_case)
    assert answer.passed, f"random code, {random_case.id}: {outcome.verdict}"


def test_keyed_needle_recalled(keyed_case, long_context, record):
    """Four "The secret code for <name> is NNNN." lines; the answer gives the asked one only."""
    outcome = _recorded(record, long_context.outcome(keyed_case))
    answer, _ = long_context.gates(keyed_case)
    assert answer.passed, f"keyed needles, {keyed_case.id}: {outcome.verdict}"


def test_no_needle_no_code(empty_case, long_context, record):
    """No needle in the context: the answer must not claim a code."""
    outcome = _recorded(record, long_context.outcome(empty_case))
    answer, _ = long_context.gates(empty_case)
    assert answer.passed, f"no needle, {empty_case.id}: {outcome.verdict}"


def test_recall_rate(long_context, record):
    """The profile's recall_min over the guide grid (runs every grid case it has to)."""
    gate = record.gate(long_context.recall())
    assert gate.passed, gate.message()
