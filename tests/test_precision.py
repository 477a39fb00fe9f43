"""Precision suite: the guide's 精度对比, one assertion per criterion.

The server under test generates the shipped prompt set (or ``--prompts FILE``) as token ids at
temperature 0, top_p 1, max_tokens 256, and is compared with a reference: a baseline file
(``--baseline``), a live reference server (``--baseline-url``), or, for the embedded default, the
same model served by vLLM CPU in float32 (the guide's "CPU FP32" reference). With
``--record-baseline FILE`` the run records this server as a baseline instead of judging it.
"""

from __future__ import annotations

import pytest

from pytest_ascend_oss.suites.precision import baseline, collect, prompts, run
from pytest_ascend_oss.suites.precision.compare import worst_table

pytestmark = pytest.mark.precision


@pytest.fixture(scope="session")
def reference_url(ascend_settings, twin_server):
    """A live reference: --baseline-url, or for the embedded default its float32 twin."""
    s = ascend_settings
    if s.baseline or s.record_baseline:
        return None  # a baseline file is the reference, or this run records one
    if s.baseline_url:
        return s.baseline_url
    twin = twin_server("reference-fp32", dtype="float32")
    return twin.base_url if twin else None


@pytest.fixture(scope="session")
def precision_run(server, ascend_settings, results_store, reference_url, checkpoint, progress):
    s = ascend_settings
    try:
        return run.verify(
            server.base_url, server.model, api_key=s.api_key, max_tokens=s.precision_max_tokens,
            prompts_path=s.prompts, reference_url=reference_url, baseline_path=s.baseline,
            record_path=s.record_baseline, checkpoint=checkpoint,
            hidden_device=s.hidden_device, hidden_dtype=s.hidden_dtype,
            endpoint=s.precision_endpoint,
            extra={"environment": results_store.data.get("environment"),
                   "server": results_store.data.get("server")},
            progress=progress)
    except (baseline.BaselineError, prompts.PromptError, collect.PrecisionError) as exc:
        pytest.fail(f"precision comparison refused: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def criteria(precision_run, ascend_settings, thresholds, reference_url):
    """The guide's four criteria as gates, by name; the reports are written from them."""
    if "recorded" in precision_run or "not_measured" in precision_run:
        return None
    s = ascend_settings
    json_path = s.results_dir / "precision_report.json"
    gates = run.gates(precision_run, thresholds.values["precision"],
                      thresholds.sources("precision"), str(json_path))
    name = f"baseline {s.baseline}" if s.baseline else f"live server {reference_url}" + (
        " (embedded, float32)" if s.mode == "embedded" and not s.baseline_url else "")
    run.write_reports(precision_run, gates, json_path, s.results_dir / "precision.md", name)
    return gates


@pytest.fixture
def comparison(precision_run, criteria):
    if "recorded" in precision_run:  # the suite's verdict says RECORDED, never PASS
        pytest.skip(f"recorded: this run records a baseline to {precision_run['recorded']}; "
                    "it judges nothing")
    if "not_measured" in precision_run:  # no reference: nothing was compared: no pass
        pytest.fail(precision_run["not_measured"], pytrace=False)
    return precision_run


def test_baseline_is_recorded(precision_run, ascend_settings):
    if not ascend_settings.record_baseline:
        pytest.skip("not applicable: not recording (--record-baseline FILE records one)")
    data = baseline.load(precision_run["recorded"])  # it must read back as a valid baseline
    assert len(data["prompts"]) >= 1 and data["perplexity"]["logprobs"]


def test_token_match_rate(comparison, criteria, record):
    gate = record.gate(criteria["token_match"])
    record("mean_prefix_fraction", comparison["mean_prefix_fraction"])
    record("teacher_forced_top1", comparison["teacher_forced_top1"])
    record("teacher_forced_kl_mean", comparison["teacher_forced_kl_mean"])
    assert gate.passed, (
        f"{gate.message()}; mean common prefix {comparison['mean_prefix_fraction']:.3f}, "
        f"teacher-forced top-1 {comparison['teacher_forced_top1']:.3f}\nworst prompts:\n"
        + worst_table(comparison))


def test_rouge_l(comparison, criteria, record):
    gate = record.gate(criteria["rouge_l"])
    assert gate.passed, (f"{gate.message()}; lowest {comparison['rouge_l_min']:.4f}\n"
                         "worst prompts:\n" + worst_table(comparison))


def test_perplexity_difference(comparison, criteria, record):
    record("perplexity_reference", comparison["perplexity_reference"])
    record("perplexity_candidate", comparison["perplexity_candidate"])
    gate = record.gate(criteria["perplexity"])
    assert gate.passed, (f"{gate.message()}: perplexity {comparison['perplexity_candidate']:.4f}"
                         f" vs reference {comparison['perplexity_reference']:.4f}")


def test_hidden_state_cosine(comparison, criteria, record):
    probe = comparison["hidden_state"]
    if "skip" in probe:
        pytest.skip(probe["skip"])
    assert "error" not in probe, probe.get("error")
    gate = record.gate(criteria["hidden_cosine"])
    record("hidden_cosine_min", probe["min"])
    assert gate.passed, (f"{gate.message()}: {probe['dtype']} on {probe['device']} vs fp32 CPU, "
                         f"min {probe['min']:.5f} over {probe['tokens']} tokens")
