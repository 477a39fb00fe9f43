"""Precision suite: the guide's 精度对比, one assertion per criterion.

The server under test generates the shipped prompt set (or ``--prompts FILE``) as token ids at
temperature 0, top_p 1, max_tokens 256, and is compared with a reference: a baseline file
(``--baseline``), a live reference server (``--baseline-url``), or, for the embedded default, the
same model served by vLLM CPU in float32 (the guide's "CPU FP32" reference). With
``--record-baseline FILE`` the run records this server as a baseline instead of judging it.
"""

from __future__ import annotations

import json

import pytest

from pytest_ascend_oss import baseline, precision, prompts
from pytest_ascend_oss.server import argv as argv_tools
from pytest_ascend_oss.server.launcher import launch

pytestmark = pytest.mark.precision


@pytest.fixture(scope="session")
def reference_url(request, ascend_settings, server, progress):
    """A live reference: --baseline-url, or for the embedded default a float32 twin."""
    s = ascend_settings
    if s.baseline or s.record_baseline:
        return None  # a baseline file is the reference, or this run records one
    if s.baseline_url:
        return s.baseline_url
    if s.mode != "embedded":
        return None
    from pytest_ascend_oss.embedded.serve import embedded_command

    argv, env = embedded_command(dtype="float32", log=lambda m: None)
    _, endpoint = launch(argv, s.results_dir / "reference-fp32", s.startup_timeout, env=env,
                         on_start=lambda proc: request.addfinalizer(proc.stop),
                         progress=lambda m: progress(f"float32 reference: {m}"))
    return endpoint.base_url


@pytest.fixture(scope="session")
def precision_run(server, ascend_settings, results_store, reference_url, thresholds, progress):
    s = ascend_settings
    try:
        result = precision.verify(
            server.base_url, server.model, api_key=s.api_key, max_tokens=s.precision_max_tokens,
            prompts_path=s.prompts, reference_url=reference_url, baseline_path=s.baseline,
            record_path=s.record_baseline, checkpoint=_checkpoint(s, server),
            hidden_device=s.hidden_device, hidden_dtype=s.hidden_dtype,
            endpoint=s.precision_endpoint,
            extra={"environment": results_store.data.get("environment"),
                   "server": results_store.data.get("server")},
            progress=progress)
    except (baseline.BaselineError, prompts.PromptError, precision.PrecisionError) as exc:
        pytest.fail(f"precision comparison refused: {exc}", pytrace=False)
    if "recorded" not in result and "skip" not in result:
        _write_reports(s, result, reference_url, thresholds)
    return result


def _write_reports(s, result, reference_url, thresholds) -> None:
    """precision_report.json (everything, per prompt) and the guide's table as Markdown."""
    report = s.results_dir / "precision_report.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    result["report"] = str(report)
    report.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    name = f"baseline {s.baseline}" if s.baseline else f"live server {reference_url}" + (
        " (embedded, float32)" if s.mode == "embedded" and not s.baseline_url else "")
    (s.results_dir / "precision.md").write_text(
        precision.markdown_table(result, thresholds.values["precision"], name))


def _checkpoint(s, server):
    """The checkpoint the hidden-state probe loads: given, embedded, or the launched one."""
    if s.checkpoint:
        return s.checkpoint
    if s.mode == "embedded":
        from pytest_ascend_oss.embedded.model import model_dir

        return model_dir()
    if server.argv:
        return argv_tools.model_path(server.argv)
    return None


@pytest.fixture
def comparison(precision_run):
    if "recorded" in precision_run:
        pytest.skip(f"recording a baseline to {precision_run['recorded']}, not judging")
    if "skip" in precision_run:
        pytest.skip(precision_run["skip"])
    return precision_run


def test_baseline_is_recorded(precision_run, ascend_settings):
    if not ascend_settings.record_baseline:
        pytest.skip("not recording (--record-baseline FILE records one)")
    data = baseline.load(precision_run["recorded"])  # it must read back as a valid baseline
    assert len(data["prompts"]) >= 1 and data["perplexity"]["logprobs"]


def test_token_match_rate(comparison, thresholds, record):
    minimum = thresholds.get("precision", "token_match_min")
    rate = comparison["token_match_rate"]
    record("token_match_rate", rate, threshold=minimum,
           source=thresholds.path("precision", "token_match_min"))
    record("mean_prefix_fraction", comparison["mean_prefix_fraction"])
    record("teacher_forced_top1", comparison["teacher_forced_top1"])
    record("teacher_forced_kl_mean", comparison["teacher_forced_kl_mean"])
    assert rate >= minimum, (
        f"token match rate {rate:.3f} < {minimum} ({thresholds.path('precision', 'token_match_min')}"
        f"); mean common prefix {comparison['mean_prefix_fraction']:.3f}, teacher-forced top-1 "
        f"{comparison['teacher_forced_top1']:.3f}; evidence {comparison['report']}\nworst prompts:\n"
        + precision.worst_table(comparison))


def test_rouge_l(comparison, thresholds, record):
    minimum = thresholds.get("precision", "rouge_l_min")
    value = comparison["rouge_l"]
    record("rouge_l", value, threshold=minimum, source=thresholds.path("precision", "rouge_l_min"))
    assert value >= minimum, (
        f"mean ROUGE-L {value:.4f} < {minimum} ({thresholds.path('precision', 'rouge_l_min')}); "
        f"lowest {comparison['rouge_l_min']:.4f}; evidence {comparison['report']}\nworst prompts:\n"
        + precision.worst_table(comparison))


def test_perplexity_difference(comparison, thresholds, record):
    maximum = thresholds.get("precision", "perplexity_rel_diff_max")
    diff = comparison["perplexity_rel_diff"]
    record("perplexity_reference", comparison["perplexity_reference"])
    record("perplexity_candidate", comparison["perplexity_candidate"])
    record("perplexity_rel_diff", diff, threshold=maximum,
           source=thresholds.path("precision", "perplexity_rel_diff_max"))
    assert diff <= maximum, (
        f"perplexity {comparison['perplexity_candidate']:.4f} vs reference "
        f"{comparison['perplexity_reference']:.4f}: relative difference {diff:.4f} > {maximum} "
        f"({thresholds.path('precision', 'perplexity_rel_diff_max')})")


def test_hidden_state_cosine(comparison, thresholds, record):
    probe = comparison["hidden_state"]
    if "skip" in probe:
        pytest.skip(probe["skip"])
    assert "error" not in probe, probe.get("error")
    minimum = thresholds.get("precision", "hidden_cosine_min")
    record("hidden_cosine_mean", probe["mean"], threshold=minimum,
           source=thresholds.path("precision", "hidden_cosine_min"))
    record("hidden_cosine_min", probe["min"])
    assert probe["mean"] >= minimum, (
        f"last-layer hidden-state cosine, {probe['dtype']} on {probe['device']} vs fp32 CPU: mean "
        f"{probe['mean']:.5f} (min {probe['min']:.5f}) < {minimum} "
        f"({thresholds.path('precision', 'hidden_cosine_min')}) over {probe['tokens']} tokens")
