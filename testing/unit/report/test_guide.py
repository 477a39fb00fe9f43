"""The one report in the guide's structure, from a results directory."""

import json

import pytest

from pytest_ascend_oss.cli import main
from pytest_ascend_oss.report import guide

PARTIAL = {
    "started": "2026-11-26T10:00:00+0000", "finished": "2026-11-26T10:02:00+0000",
    "interrupted": False, "profile": {"name": "atlas-800-a2", "file": "thresholds.toml"},
    "environment": {"python": "3.11.7", "vllm": "0.32.0", "ascend_host": False},
    "server": {"mode": "launch", "argv": ["vllm", "serve", "/m", "--api-key", "<hidden>"],
               "ladder_rung": "as-given", "startup_s": 61.2, "model": "gpt-oss-20b"},
    "tests": {
        "tests/test_smoke.py::test_say_hi_greets": {
            "outcome": "passed", "suites": ["smoke"], "measurements": {}},
        "tests/test_smoke.py::test_ascend_software_meets_the_guide[cann]": {
            "outcome": "not_applicable", "suites": ["smoke"], "measurements": {},
            "message": "Skipped: not applicable: not an Ascend host"},
        "tests/test_performance.py::test_guide_target[c=1-TTFT]": {
            "outcome": "failed", "suites": ["performance"],
            "message": "AssertionError: median TTFT 130.2 ms, bound < 100 ms\nmore",
            "measurements": {"median TTFT": {"value": 130.2, "threshold": "< 100", "unit": "ms",
                                             "threshold_source": "thresholds.toml ttft_max_ms"}}},
    },
    "verdicts": {"smoke": "PASS", "performance": "FAIL"},
}


def test_a_partial_run_says_what_did_not_run_and_gives_it_no_verdict(tmp_path):
    (tmp_path / "performance.md").write_text("# 性能 Benchmark: measured\n\n| 并发数 | TTFT |\n")
    text = guide.markdown(PARTIAL, tmp_path)
    assert "| precision | NOT RUN |" in text
    assert "| features | NOT RUN |" in text
    assert "Not run: no `precision` test ran in this session" in text
    assert "Not run: no `long_context` test ran in this session" in text
    assert "**性能 Benchmark: measured**" in text and "| 并发数 | TTFT |" in text
    assert "| performance | FAIL |" in text and "| smoke | PASS |" in text


def test_each_criterion_shows_value_bound_source_and_why_it_failed(tmp_path):
    text = guide.markdown(PARTIAL, tmp_path)
    assert ("| performance | `test_guide_target[c=1-TTFT]` | ❌ FAIL | median TTFT = 130.2 ms; "
            "AssertionError: median TTFT 130.2 ms, bound < 100 ms | < 100 | "
            "thresholds.toml ttft_max_ms |") in text
    assert "— not applicable" in text
    assert "`vllm serve /m --api-key <hidden>`" in text and "| launch rung | as-given |" in text


def test_an_interrupted_or_dead_run_says_so_first(tmp_path):
    data = {**PARTIAL, "interrupted": True, "running": "tests/test_x.py::test_y",
            "server": {**PARTIAL["server"], "died": {"before": "tests/test_x.py::test_y",
                                                     "story": "server died: killed\nlog"}}}
    text = guide.markdown(data, tmp_path)
    head = text.split("## 环境")[0]
    assert "**The run was interrupted** during `tests/test_x.py::test_y`" in head
    assert "**Server died** before `tests/test_x.py::test_y`: server died: killed" in head


def test_the_command_rebuilds_it_and_refuses_a_directory_without_results(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 4
    assert "no results.json" in capsys.readouterr().err
    (tmp_path / "results.json").write_text(json.dumps(PARTIAL))
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.md").read_text().startswith("# gpt-oss-20b 部署验收报告")
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(tmp_path / "missing")])
    assert exit_.value.code == 4


def _compared(tmp_path, run_a: dict, run_b: dict) -> str:
    """``ascend-oss report --compare`` on two results directories holding these results."""
    for name, data in (("a", run_a), ("b", run_b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps(data))
    assert main(["report", "--compare", str(tmp_path / "a"), str(tmp_path / "b"),
                 "--output", str(tmp_path / "c.md")]) == 0
    return (tmp_path / "c.md").read_text()


def test_compare_puts_figures_side_by_side_and_flags_changed_verdicts(tmp_path):
    better = json.loads(json.dumps(PARTIAL))
    entry = better["tests"]["tests/test_performance.py::test_guide_target[c=1-TTFT]"]
    entry["outcome"], entry["measurements"]["median TTFT"]["value"] = "passed", 80.0
    better["verdicts"]["performance"] = "PASS"
    text = _compared(tmp_path, PARTIAL, better)
    assert "| performance | FAIL | PASS | **changed** |" in text
    assert "| smoke | PASS | PASS |  |" in text
    assert "| `test_guide_target[c=1-TTFT]` | ❌ FAIL | ✅ PASS |" in text
    assert ("| `test_guide_target[c=1-TTFT]` **changed** | median TTFT | 130.2 | 80 | -50.2 | "
            "-38.6 % | < 100 |") in text
    assert (tmp_path / "c.html").read_text().startswith("<!doctype html>")


def test_report_takes_a_directory_or_a_comparison_not_both(tmp_path, capsys):
    assert main(["report"]) == 4
    assert "give one RESULTS_DIR, or --compare RUN_A RUN_B" in capsys.readouterr().err


def test_the_worst_prompts_are_quoted_side_by_side(tmp_path):
    data = {**PARTIAL, "verdicts": {**PARTIAL["verdicts"], "precision": "FAIL"}}
    (tmp_path / "precision.md").write_text("# 精度对比\n\n| 指标 |\n")
    (tmp_path / "precision_report.json").write_text(json.dumps({"worst": [
        {"id": "factual-en-01", "first_divergence": 3, "rouge_l": 0.41,
         "reference_continuation": "Paris is the capital", "candidate_continuation": "Lyon | x"}]}))
    text = guide.markdown(data, tmp_path)
    assert ("| factual-en-01 | 3 | 0.41 | Paris is the capital | Lyon \\| x |") in text


def test_a_killed_run_is_incomplete_not_unrun(tmp_path):
    """SIGKILL leaves no verdicts: a suite that reported tests is INCOMPLETE, never NOT RUN."""
    killed = {k: v for k, v in PARTIAL.items() if k not in ("verdicts", "finished")}
    killed.update(interrupted=True, running="tests/test_smoke.py::test_say_hi_greets")
    text = guide.markdown(killed, tmp_path)
    assert "| smoke | INCOMPLETE (the run was killed before its end) |" in text
    assert "| precision | NOT RUN |" in text


def test_compare_matches_tests_across_rootdirs(tmp_path):
    """Node ids start at each run's rootdir (another checkout, another host): matched by file
    name and test id."""
    moved = json.loads(json.dumps(PARTIAL))
    moved["tests"] = {"../elsewhere/" + k: v for k, v in moved["tests"].items()}
    text = _compared(tmp_path, PARTIAL, moved)
    assert "## 判定变化 / Criteria whose verdict changed\n\nNone." in text
    assert "| `test_guide_target[c=1-TTFT]` | median TTFT | 130.2 | 130.2 | 0 | +0.0 % |" in text


def test_the_serving_versions_differences_and_the_device_plan_are_reported(tmp_path):
    data = json.loads(json.dumps(PARTIAL))
    data["server"]["vllm_version"] = {"version": "0.18.0", "source": "the server's /version",
                                      "lacks": ["pooler_config_task"]}
    data["devices"] = {"cards": [0, 1, 2], "source": "--devices", "server": [0],
                       "extra_servers": [{"server": "pooling-twin", "needs": 1, "cards": [1]},
                                         {"server": "variant-tp", "needs": 2, "cards": None}],
                       "server_stepped_aside": [
                           {"for": "variant-eager", "cards": [0], "server_stopped_s": 4.0,
                            "server_back_s": 50.5, "cost_s": 54.5},
                           {"for": "variant-chunked_prefill", "cards": [0],
                            "server_stopped_s": 3.0}]}
    text = guide.markdown(data, tmp_path)
    assert "| vLLM differences in force | pooler_config_task (the server's /version) |" in text
    assert ("| NPUs (device plan) | run [0, 1, 2] (--devices); server under test [0]; "
            "pooling-twin: [1]; variant-tp: – |") in text
    # the last one never came back (the run ended): its stop is counted, nothing invented
    assert ("| server under test stepped aside | 2 times (for variant-eager, "
            "variant-chunked_prefill): 58 s of extra launches |") in text


def test_verdicts_and_failures_lead_the_guides_tables_follow_the_criteria_fold(tmp_path):
    (tmp_path / "performance.md").write_text("# 性能 Benchmark: measured\n\n| 并发数 | TTFT |\n")
    text = guide.markdown(PARTIAL, tmp_path)
    order = [text.index(h) for h in ("## 结论 / Verdict", "## 未通过 / What failed",
                                     "## 精度对比 / Precision", "## 功能状态矩阵 / Feature matrix",
                                     "## 环境 / Environment", '<details markdown="1">',
                                     "## 判定 / Criteria", "</details>")]
    assert order == sorted(order)
    failed = text.split("## 未通过 / What failed")[1].split("##")[0]
    assert "**performance** `test_guide_target[c=1-TTFT]`: AssertionError: median TTFT 130.2 ms" \
        in failed
    assert "<summary>判定 / Criteria: 3 rows" in text


def test_the_html_draws_its_marks_and_needs_no_emoji_font(tmp_path):
    from pytest_ascend_oss.report import html

    page = html.render("| a | b |\n|---|---|\n| ✅ PASS | ❌ FAIL |\n| ⚠️ NOT MEASURED | 📼 ⬜ |\n"
                       '\n<details markdown="1">\n<summary>s</summary>\n\n| x |\n|---|\n| y |'
                       "\n\n</details>\n", tmp_path, "t")
    for mark in ("✅", "❌", "⚠", "📼", "⬜", "\ufe0f"):
        assert mark not in page, mark
    assert page.count('<svg class="mark"') == 5
    assert "<details>" in page and "<td>y</td>" in page  # markdown inside the fold is rendered
