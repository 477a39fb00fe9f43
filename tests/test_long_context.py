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

import time

import pytest

from pytest_ascend_oss import longcontext, longcontext_report
from pytest_ascend_oss.plugin import profile_key, settings_key

pytestmark = pytest.mark.long_context

_OUTCOMES: dict[longcontext.Case, longcontext.Outcome] = {}
_STARTED = time.monotonic()


def _lengths(config) -> list[int]:
    s = config.stash[settings_key]
    if s.niah_lengths:
        return longcontext.parse_int_list(s.niah_lengths, "--niah-lengths")
    ctx = s.ctx or config.stash[profile_key].get("long_context", "context_length")
    return longcontext.grid_lengths(ctx)


def pytest_generate_tests(metafunc):
    config = metafunc.config
    try:
        lengths = _lengths(config)
        depths = longcontext.parse_int_list(config.stash[settings_key].niah_depths,
                                            "--niah-depths")
    except longcontext.NeedleError as exc:
        raise pytest.UsageError(str(exc)) from None
    if "grid_case" in metafunc.fixturenames:
        cases = [longcontext.Case("guide", n, d) for n in lengths for d in depths]
        metafunc.parametrize("grid_case", cases, ids=[c.id for c in cases])
    variants = config.stash[profile_key].get("long_context", "variants")
    for name, kind, depth in (("random_case", "random", 50), ("keyed_case", "keyed", 50),
                              ("empty_case", "none", 0)):
        if name in metafunc.fixturenames:
            if kind not in variants:
                reason = (f"variant {kind!r} is not in this profile's long_context.variants "
                          f"{variants}")
                metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason))],
                                     ids=["off"])
                continue
            cases = [longcontext.Case(kind, n, depth) for n in lengths]
            metafunc.parametrize(name, cases, ids=[f"ctx={c.length}" for c in cases])


@pytest.fixture(scope="session")
def niah(server, ascend_settings, thresholds, progress, request):
    """``niah(case)``: the case's outcome, run on first use, reports rewritten after each."""
    s = ascend_settings
    settings = longcontext.Settings(
        max_tokens=s.niah_max_tokens, reasoning_effort=s.niah_reasoning_effort or None,
        language=s.niah_language)
    runner = longcontext.Runner(server.base_url, server.model, settings, api_key=s.api_key,
                                log_path=server.log_path, progress=progress,
                                health_check_from=max(_lengths(request.config)))
    request.addfinalizer(runner.close)
    limits = thresholds.values["long_context"]
    out = s.results_dir

    def run(case: longcontext.Case) -> longcontext.Outcome:
        if case not in _OUTCOMES:
            _OUTCOMES[case] = runner.run(case)
            outcomes = list(_OUTCOMES.values())
            meta = {"model": server.model, "base_url": server.base_url,
                    "profile": thresholds.name, "needle": settings.needle,
                    "question": settings.question, "max_tokens": settings.max_tokens,
                    "reasoning_effort": settings.reasoning_effort,
                    "language": settings.language, "max_model_len": runner.max_model_len,
                    "ttft_max_s": limits["ttft_max_s"], "recall_min": limits["recall_min"],
                    "wall_time_s": round(time.monotonic() - _STARTED, 1)}
            longcontext_report.write_json(out / "long_context_report.json", outcomes, meta)
            (out / "long_context.md").write_text(
                longcontext_report.markdown(outcomes, limits["ttft_max_s"], thresholds.name))
            longcontext_report.heatmap(out / "long_context_heatmap.png", outcomes,
                                       limits["ttft_max_s"])
        return _OUTCOMES[case]

    return run


def _recorded(record, outcome):
    record("prompt_tokens", outcome.prompt_tokens, unit="tokens", source="/tokenize")
    record("context_tokens", outcome.context_tokens, unit="tokens")
    record("actual_depth_pct", None if outcome.actual_depth is None
           else round(outcome.actual_depth, 2))
    record("answer", outcome.content[:200])
    return outcome


def test_needle_recalled(grid_case, niah, record):
    """The guide's needle is recalled exactly, in the final answer."""
    outcome = _recorded(record, niah(grid_case))
    record("recalled", outcome.passed)
    assert outcome.passed, f"{grid_case.id}: {outcome.verdict}"


def test_needle_ttft(grid_case, niah, thresholds, record):
    """First token within the profile's bound (the guide: < 5 s even at 128K)."""
    outcome = niah(grid_case)
    bound = thresholds.values["long_context"]["ttft_max_s"]
    assert outcome.ttft_s is not None, f"{grid_case.id}: no first token: {outcome.verdict}"
    record("ttft_s", round(outcome.ttft_s, 3), threshold=f"< {bound}", unit="s")
    assert outcome.ttft_s < bound, (
        f"{grid_case.id}: TTFT {outcome.ttft_s:.2f} s, required < {bound} s "
        f"({thresholds.path('long_context', 'ttft_max_s')})")


def test_random_code_recalled(random_case, niah, record):
    """A fresh code per case: a server that has memorised (or always says) 7842 fails here."""
    outcome = _recorded(record, niah(random_case))
    assert outcome.passed, f"random code, {random_case.id}: {outcome.verdict}"


def test_keyed_needle_recalled(keyed_case, niah, record):
    """Four "The secret code for <name> is NNNN." lines; the answer gives the asked one only."""
    outcome = _recorded(record, niah(keyed_case))
    assert outcome.passed, f"keyed needles, {keyed_case.id}: {outcome.verdict}"


def test_no_needle_no_code(empty_case, niah, record):
    """No needle in the context: the answer must not claim a code."""
    outcome = _recorded(record, niah(empty_case))
    assert outcome.passed, f"no needle, {empty_case.id}: {outcome.verdict}"


def test_recall_rate(niah, thresholds, request, record):
    """The profile's recall_min over the guide grid (runs every grid case it has to)."""
    lengths = _lengths(request.config)
    depths = longcontext.parse_int_list(request.config.stash[settings_key].niah_depths,
                                        "--niah-depths")
    outcomes = [niah(longcontext.Case("guide", n, d)) for n in lengths for d in depths]
    recall = sum(o.passed for o in outcomes) / len(outcomes)
    bound = thresholds.values["long_context"]["recall_min"]
    record("recall", recall, threshold=f">= {bound}")
    missed = [f"{o.case.id}: {o.verdict}" for o in outcomes if not o.passed]
    assert recall >= bound, f"recall {recall:.0%} < {bound:.0%}; missed: " + "; ".join(missed)
