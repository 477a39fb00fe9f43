"""The self-check's bookkeeping: criterion names, statuses, sizing, the verdicts and matrix."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_ascend_oss import thresholds
from pytest_ascend_oss.selfcheck import cells, faults, plan
from pytest_ascend_oss.selfcheck.cells import FAILED, NOT_APPLICABLE, NOT_MEASURED, PASSED, Cell
from pytest_ascend_oss.selfcheck.report import markdown, summary, unmeasured
from pytest_ascend_oss.selfcheck.session import HEALTHY, SelfCheck
from pytest_ascend_oss.server.launcher import Endpoint
from pytest_ascend_oss.settings import Settings


@pytest.mark.parametrize("nodeid, name", [
    ("tests/test_performance.py::test_guide_target[c=16-TTFT]",
     "performance::test_guide_target[TTFT]"),
    ("tests/test_performance.py::test_guide_target[c=1-output throughput]",
     "performance::test_guide_target[output throughput]"),
    ("tests/test_long_context.py::test_needle_ttft[ctx=1024-depth=50]",
     "long_context::test_needle_ttft"),
    ("../../x/tests/test_smoke.py::test_say_hi_greets", "smoke::test_say_hi_greets"),
    ("tests/test_selfcheck.py::test_detection_score", None),
])
def test_criterion_names_a_test_function_across_its_cases(nodeid, name):
    assert cells.criterion(nodeid) == name


def test_a_criterion_fails_if_any_case_fails_and_passes_only_if_every_case_that_applies_does():
    results = {"tests": {
        "tests/test_long_context.py::test_needle_recalled[ctx=1024-depth=50]": {"outcome": "passed"},
        "tests/test_long_context.py::test_needle_recalled[ctx=4096-depth=50]": {"outcome": "error"},
        "tests/test_long_context.py::test_recall_rate": {"outcome": "passed"},
        "tests/test_long_context.py::test_keyed_needle_recalled[off]":
            {"outcome": "not_applicable"},
        "tests/test_precision.py::test_token_match_rate": {"outcome": "skipped"},
        "tests/test_smoke.py::test_usage_is_consistent[chat]": {"outcome": "passed"},
        "tests/test_smoke.py::test_usage_is_consistent[completions]":
            {"outcome": "not_applicable"},
    }}
    assert cells.observe(results) == {
        "long_context::test_needle_recalled": FAILED, "long_context::test_recall_rate": PASSED,
        "long_context::test_keyed_needle_recalled": NOT_APPLICABLE,
        "precision::test_token_match_rate": NOT_MEASURED,
        "smoke::test_usage_is_consistent": PASSED}


def test_the_sized_thresholds_keep_every_bound_and_shrink_only_the_run(tmp_path):
    profile = thresholds.load(None, "atlas-800-a2")
    sized = thresholds.load(plan.thresholds_file(profile, tmp_path / "t.toml"), "atlas-800-a2")
    for suite in ("precision", "long_context"):
        assert sized.values[suite] == profile.values[suite]
    perf, full = sized.values["performance"], profile.values["performance"]
    for key in ("ttft_max_ms", "tpot_max_ms", "output_throughput_min", "qps_min",
                "ttft_max_ms_by_concurrency", "output_tokens_by_concurrency", "max_error_rate"):
        assert perf[key] == full[key], key
    assert perf["concurrency"] == [1, 16] and perf["throughput_gate_concurrency"] == [16]
    assert perf["requests_per_level"] == plan.REQUESTS_PER_LEVEL
    assert perf["requests_by_concurrency"] == {}


def test_delay_faults_are_twice_the_bound_they_must_break():
    canary = thresholds.load(None, "cpu-canary")
    assert plan.delay_s(canary, "token-delay", ["performance"]) == pytest.approx(0.080)
    assert plan.delay_s(canary, "first-token-delay", ["performance"]) == pytest.approx(0.360)
    # 4,096 tokens falls under the 16,384 row (2 s): 4 s, which also breaks performance's
    assert plan.delay_s(canary, "first-token-delay", ["long_context", "performance"]) == 4.0
    assert plan.delay_s(canary, "always-7842", ["smoke"]) == 0.0


def test_the_prompt_subset_keeps_every_category_and_both_languages(tmp_path):
    from pytest_ascend_oss.suites.precision import prompts

    full, _ = prompts.load_prompts(None)
    subset, _ = prompts.load_prompts(plan.prompt_subset(None, tmp_path / "p.json"))
    assert len(subset["prompts"]) == 9
    for key in ("category", "lang"):
        assert {p[key] for p in subset["prompts"]} == {p[key] for p in full["prompts"]}


def _selfcheck(tmp_path: Path, observed: dict[str, dict[str, str]], **settings) -> SelfCheck:
    check = SelfCheck(Settings(results_dir=tmp_path, base_url="http://127.0.0.1:1", **settings),
                      Endpoint("http://127.0.0.1:1", "m"), thresholds.load(None, "cpu-canary"),
                      tmp_path)
    for run, seen in observed.items():
        check.cells[run] = Cell(run, "http://127.0.0.1:2", [], seen)
    return check


# Criteria of the features suite the faults above also flip: not applicable in this
# made-up healthy run, so the counts below are the smoke and performance ones.
FEATURES_FLIPPED = ("features::test_tool_calls_pass_at_k", "features::test_tool_calls_never_invalid",
                    "features::test_streamed_tool_call_equals_non_streamed",
                    "features::test_reasoning_arrives_separately")


def test_verdicts_count_caught_missed_and_unmeasured_cells(tmp_path):
    greets = "smoke::test_say_hi_greets"
    capital = "smoke::test_canary_answers_the_capital_word_for_word"
    check = _selfcheck(tmp_path, {
        HEALTHY: {greets: PASSED, capital: PASSED, "performance::test_no_failed_requests": PASSED,
                  "smoke::test_weather_question_becomes_a_tool_call": NOT_APPLICABLE,
                  **{name: NOT_APPLICABLE for name in FEATURES_FLIPPED}},
        "harmony-leak": {greets: PASSED, capital: FAILED},           # one criterion unknown
        "http-500-bursts": {"performance::test_no_failed_requests": PASSED},   # missed
        "invalid-tool-json": {"smoke::test_weather_question_becomes_a_tool_call": NOT_APPLICABLE},
    })
    v = check.verdicts()
    leak = v["faults"]["harmony-leak"]
    assert leak["caught"] == [capital] and leak["missed"] == []
    assert leak["not_measured"] == {
        "smoke::test_final_answer_holds_no_harmony_markup": "healthy run: not run"}
    assert v["faults"]["http-500-bursts"]["missed"] == ["performance::test_no_failed_requests"]
    assert v["faults"]["invalid-tool-json"]["not_applicable"] == [
        "smoke::test_weather_question_becomes_a_tool_call",
        *[n for n in FEATURES_FLIPPED if "tool" in n]]
    assert (v["cells_caught"], v["cells_expected"]) == (1, 3)
    assert (v["faults_caught"], v["faults_judged"]) == (0, 2)
    assert v["healthy_failures"] == [] and v["healthy_passed"] == 3
    text = markdown(check.to_json())
    assert "| performance::test_no_failed_requests | pass | **MISSED** |" in text.replace(
        " |  |", " |")
    assert "CAUGHT" in text and summary(check.to_json()) in text
    check.write()
    assert (tmp_path / "selfcheck" / "selfcheck.md").read_text() == text
    # 3 expected: 1 caught, 1 missed (a failure, said elsewhere), 1 not measured
    assert unmeasured(check.to_json()).startswith("1 of 3 cells that must fail were not measured")


def test_a_self_check_that_ran_no_fault_or_measured_everything_says_so(tmp_path):
    assert unmeasured(_selfcheck(tmp_path, {}).to_json()) == "no fault ran"
    check = _selfcheck(tmp_path, {HEALTHY: {"performance::test_no_failed_requests": PASSED},
                                  "http-500-bursts": {"performance::test_no_failed_requests":
                                                      FAILED}})
    assert unmeasured(check.to_json()) is None


def test_a_launched_fault_does_not_apply_to_an_attached_server(tmp_path):
    check = _selfcheck(tmp_path, {})
    check._reference = []  # nothing to record: attached, no baseline
    assert check.fault("perturbed-weights") is None
    assert check.skipped["perturbed-weights"].startswith("not applicable:")


def test_quick_runs_the_proxy_faults_and_names_what_it_left_out(tmp_path):
    quick = faults.selected(quick=True)
    assert quick and all(not f.launched for f in quick)
    assert faults.selected(quick=False) == faults.FAULTS
    check = _selfcheck(tmp_path, {HEALTHY: {"performance::test_no_failed_requests": PASSED},
                                  "http-500-bursts": {"performance::test_no_failed_requests":
                                                      FAILED}},
                       selfcheck_quick=True)
    data = check.to_json()
    launched = sorted(f.name for f in faults.FAULTS if f.launched)
    assert sorted(data["left_out"]) == launched
    assert f"; quick: {len(launched)} launched faults left out;" in summary(data)
    assert unmeasured(data) is None  # chosen, not missing: the summary says it instead
    text = markdown(data)
    for name in launched:
        assert f"| {name} |" in text and "(left out by --quick" in text
    assert "## Criteria no fault flips" in text
    assert "| precision::test_checkpoint_probe | runs the checkpoint's kernels offline" in text
    # a full self-check leaves nothing out, and says nothing about it
    full = _selfcheck(tmp_path, {}).to_json()
    assert full["left_out"] == {} and "quick" not in summary(full)


def test_a_variant_fault_is_judged_against_its_control_run(tmp_path):
    graph = "features::test_graph_mode_matches_eager"
    check = _selfcheck(tmp_path, {
        HEALTHY: {"smoke::test_say_hi_greets": PASSED},   # no variant server: no graph row
        "eager-differs-control": {graph: PASSED},
        "eager-differs": {graph: FAILED},
        "parallel-differs-control": {"features::test_parallel_variant_agrees": FAILED},
        "parallel-differs": {"features::test_parallel_variant_agrees": FAILED},
    })
    v = check.verdicts()
    assert v["faults"]["eager-differs"]["caught"] == [graph]
    # a control that failed: the fault proves nothing, and the healthy side has a failure
    assert v["faults"]["parallel-differs"]["not_measured"] == {
        "features::test_parallel_variant_agrees": "parallel-differs-control: failed"}
    assert v["healthy_failures"] == ["features::test_parallel_variant_agrees"]
    assert (v["healthy_passed"], v["healthy_judged"]) == (2, 3)
    text = markdown(check.to_json())
    assert "| eager-differs-control |" in text.splitlines()[6]  # a column of its own


def test_cells_run_the_costly_features_checks_only_where_judged(tmp_path, monkeypatch):
    seen = []

    def fake_run(argv, **kwargs):
        seen.append(argv)
        results = Path(argv[argv.index("--results-dir") + 1])
        (results / "results.json").write_text('{"tests": {}}')
        return type("Done", (), {"returncode": 0})()

    monkeypatch.setattr(cells.subprocess, "run", fake_run)
    tests = tmp_path / "tests"
    cells.run("healthy", "http://u", ["smoke", "features"], tests, tmp_path / "a", [], None,
              progress=lambda m: None, judged=("test_served_dtype_is_bf16",))
    deselected = [seen[0][i + 1] for i, a in enumerate(seen[0]) if a == "--deselect"]
    assert str(tests) in seen[0]
    assert "tests/test_features.py::test_served_dtype_is_bf16" not in deselected
    assert "tests/test_features.py::test_graph_mode" in deselected  # both graph rows
    assert len(deselected) == len(cells.UNJUDGED_FEATURES) - 1
    cells.run("short", "http://u", ["features", "long_context"], tests, tmp_path / "b", [],
              None, progress=lambda m: None,
              only=("features::test_context_131k", "long_context"))
    argv = seen[1]
    assert f"{tests}/test_features.py::test_context_131k" in argv
    assert f"{tests}/test_long_context.py" in argv and str(tests) not in argv
    assert "tests/test_features.py::test_context_131k" not in argv[argv.index("-q"):]


def test_the_healthy_run_judges_the_131k_row_only_where_a_fault_flips_it(tmp_path):
    flips = "features::test_context_131k"
    assert _selfcheck(tmp_path, {}, )._judged_here(flips) is False  # attached: no variants
    embedded = SelfCheck(Settings(results_dir=tmp_path), Endpoint("http://127.0.0.1:1", "m"),
                         thresholds.load(None, "cpu-canary"), tmp_path)
    assert embedded._judged_here(flips) is True
    quick = SelfCheck(Settings(results_dir=tmp_path, selfcheck_quick=True),
                      Endpoint("http://127.0.0.1:1", "m"), thresholds.load(None, "cpu-canary"),
                      tmp_path)
    assert quick._judged_here(flips) is False
    assert quick._judged_here("smoke::test_say_hi_greets") is True  # a proxy fault flips it


def test_servers_started_together_are_all_stopped_when_one_fails_to_start(tmp_path, monkeypatch):
    from pytest_ascend_oss.server.launcher import StartupError

    check = _selfcheck(tmp_path, {})
    stopped = []

    def start(label, stops, **changes):
        stops.append(lambda: stopped.append(label))  # registered before any waiting
        if changes.get("perturb"):
            raise StartupError(f"{label} did not start")
        return Endpoint(f"http://127.0.0.1:9/{label}", "m")

    monkeypatch.setattr(check, "_start", start)
    with check.variants(("control", {}), ("broken", {})) as endpoints:
        assert [e.base_url.rsplit("/", 1)[1] for e in endpoints] == ["control", "broken"]
        assert stopped == []
    assert sorted(stopped) == ["broken", "control"]
    stopped.clear()
    with (pytest.raises(StartupError, match="broken did not start"),
          check.variants(("control", {}), ("broken", {"perturb": 0.3}))):
        raise AssertionError("never reached")
    assert sorted(stopped) == ["broken", "control"]
