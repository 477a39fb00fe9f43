"""Precision suite: the guide's 精度对比, one assertion per criterion.

The server under test generates the shipped prompt set (or ``--prompts FILE``) as token ids at
temperature 0, top_p 1, max_tokens 256, scores the perplexity conversations, and gives its
last-layer hidden states through its pooling twin; all of it is compared with a reference: a
baseline file (``--baseline``), a live reference server (``--baseline-url``, its pooling twin
``--baseline-pooling-url``), or, for the embedded default, the canary in float32 computed by
transformers on the CPU (the guide's "CPU FP32" reference). With ``--record-baseline FILE`` the
run records this server as a baseline instead of judging it.
"""

from __future__ import annotations

import pytest

from pytest_ascend_oss.server.devices import NoCards
from pytest_ascend_oss.server.launcher import StartupError
from pytest_ascend_oss.suites.precision import baseline, collect, conversations, prompts, run
from pytest_ascend_oss.suites.precision.compare import worst_table
from pytest_ascend_oss.suites.precision.hidden import HiddenStateError
from pytest_ascend_oss.suites.precision.reference import ReferenceError

pytestmark = pytest.mark.precision
REFUSED = (baseline.BaselineError, prompts.PromptError, collect.PrecisionError,
           conversations.CorpusError, ReferenceError, HiddenStateError, ValueError)


@pytest.fixture(scope="session")
def reference(ascend_settings, server, checkpoint, progress):
    """(baseline file, live reference URL, its pooling twin, name): what the server is judged
    against. The embedded default's is its float32 transformers baseline, recorded once."""
    s = ascend_settings
    if s.record_baseline:
        return None, None, None, "none (recording)"
    if s.baseline:
        return s.baseline, None, None, f"baseline {s.baseline}"
    if s.baseline_url:
        return None, s.baseline_url, s.baseline_pooling_url, f"live server {s.baseline_url}"
    if s.mode != "embedded":
        return None, None, None, "none"
    try:
        path = run.embedded_reference(
            checkpoint, server.model, max_tokens=s.precision_max_tokens, prompts_path=s.prompts,
            endpoint=s.precision_endpoint, corpus=s.perplexity_corpus, progress=progress)
    except REFUSED as exc:
        pytest.fail(f"the float32 reference could not be recorded: {exc}", pytrace=False)
    return path, None, None, f"CPU FP32 (transformers) baseline {path}"


@pytest.fixture(scope="session")
def pooling_twin(ascend_settings, twin_server):
    """() -> (URL of the server's pooling twin, why there is none): --pooling-url, or the twin
    that launched and embedded servers start, started when the precision run asks for it
    (after the server under test has answered: on one card the server steps aside for its
    twin). A twin that does not start is a failed criterion with vLLM's own error, never a
    skip."""
    s = ascend_settings
    if s.pooling_url:
        return lambda: (s.pooling_url, None)

    def start() -> tuple[str | None, str | None]:
        try:
            twin = twin_server("pooling-twin", pooling=True, keep_for="pooling_twin")
        except StartupError as exc:
            return None, f"the pooling twin did not start: {exc}"
        except NoCards as exc:  # the host's cards, not the deployment: said as such
            return None, f"no card for the pooling twin: {exc}"
        return (twin.base_url, None) if twin else (None, None)

    return start


@pytest.fixture(scope="session")
def precision_run(server, ascend_settings, results_store, reference, pooling_twin, progress):
    s = ascend_settings
    baseline_path, reference_url, reference_pooling, _ = reference
    try:
        return run.verify(
            server.base_url, server.model, api_key=s.api_key, max_tokens=s.precision_max_tokens,
            prompts_path=s.prompts, reference_url=reference_url, baseline_path=baseline_path,
            record_path=s.record_baseline, pooling_url=pooling_twin,
            reference_pooling_url=reference_pooling,
            corpus=s.perplexity_corpus, cpu_reference=s.cpu_reference,
            endpoint=s.precision_endpoint,
            extra={"environment": results_store.data.get("environment"),
                   "server": results_store.data.get("server")},
            progress=progress)
    except REFUSED as exc:
        pytest.fail(f"precision comparison refused: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def criteria(precision_run, ascend_settings, thresholds, reference):
    """The guide's criteria as gates, by name; the reports are written from them."""
    if "recorded" in precision_run or "not_measured" in precision_run:
        return None
    s = ascend_settings
    json_path = s.results_dir / "precision_report.json"
    gates = run.gates(precision_run, thresholds.values["precision"],
                      thresholds.sources("precision"), str(json_path))
    run.write_reports(precision_run, gates, json_path, s.results_dir / "precision.md",
                      reference[3])
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
    assert data.get("hidden_states"), (
        "the baseline holds no hidden states: the server's pooling twin was not available "
        "(--pooling-url URL), so a run judged against it cannot measure the hidden-state cosine")


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
    record("perplexity_nll_diff_nats", comparison["perplexity_nll_diff_nats"])
    gate = record.gate(criteria["perplexity"])
    assert gate.passed, (f"{gate.message()}: perplexity {comparison['perplexity_candidate']:.4f}"
                         f" vs reference {comparison['perplexity_reference']:.4f}")


def test_text_is_what_the_ids_say(comparison, criteria, record):
    """Every answer's text equals its ids read back by the server's /detokenize: the ids the
    criteria above judge are the answers users receive."""
    text = comparison.get("text_ids") or {}
    if "text_ids" not in criteria:
        pytest.skip(f"not applicable: {text.get('not_applicable', 'no text was checked')}")
    gate = record.gate(criteria["text_ids"])
    record("text_ids_differing", text.get("differing_count"))
    assert gate.passed, (f"{gate.message()}: {text.get('differing_count')} of "
                         f"{text.get('prompts')} answers differ from their ids' text, e.g. "
                         f"{text.get('differing', [])[:2]}")


def test_hidden_state_cosine(comparison, criteria, record):
    """The guide's criterion: the server's stack (its pooling twin) against the reference."""
    probe = comparison["hidden_state"]
    assert "error" not in probe, probe.get("error")
    mean = record.gate(criteria["hidden_cosine"])
    worst = record.gate(criteria["hidden_cosine_prompt"])
    record("hidden_cosine_min_token", probe["min"])
    if not mean.measured:
        pytest.fail(mean.message(), pytrace=False)
    worst_prompts = "\n".join(f"  {p['id']}: min {p['min']:.5f} at position {p['min_position']},"
                              f" mean {p['mean']:.5f}" for p in probe["worst"])
    assert mean.passed and worst.passed, (
        f"{mean.message()}; {worst.message()}; over {probe['tokens']} sampled tokens against "
        f"{probe['source']}\nworst prompts:\n{worst_prompts}")


def test_checkpoint_probe(ascend_settings, checkpoint, thresholds, record):
    """Not the guide's criterion: the checkpoint's torch kernels on --hidden-device against
    float32 on the CPU, offline. It never touches the server, so it is reported on its own."""
    s = ascend_settings
    if not s.hidden_device:
        pytest.skip("not applicable: the checkpoint probe runs with --hidden-device cpu|npu")
    if checkpoint is None:
        pytest.fail("the checkpoint probe needs --checkpoint DIR (an attached server's "
                    "checkpoint is not known)", pytrace=False)
    sequences = [p["prompt_ids"] for p in run.render_prompts(prompts.load_prompts(s.prompts)[0])]
    probe = run.probe_kernels(checkpoint, sequences, s.hidden_device, s.hidden_dtype)
    assert "error" not in probe, probe["error"]
    record("checkpoint_probe_mean", probe["mean"])
    record("checkpoint_probe_min", probe["min"])
    bound = thresholds.values["precision"]["hidden_cosine_min"]
    assert probe["mean"] >= bound, (
        f"checkpoint probe: {probe['dtype']} on {probe['device']} vs float32 on the CPU, mean "
        f"cosine {probe['mean']:.5f} < {bound} over {probe['tokens']} tokens")
