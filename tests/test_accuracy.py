"""Accuracy suite (not in the guide): does the deployment answer a question set as well as
gpt-oss-20b's published figures say it should, at each reasoning effort?

The guide's precision criteria compare the NPU with a GPU baseline; a baseline that is itself
wrong (a bad checkpoint, a chat template that drops the reasoning effort) passes all of them.
This suite is the absolute check: a set the user provides (``--accuracy-questions``, GPQA's
CSV or a JSONL of exact answers; the built-in 24 capitals without one), asked at every effort
of the profile, graded as the gpt-oss evals grade, and judged by the top of a bootstrap
interval against the profile's published figure minus a margin. With ``--accuracy-baseline``
(the same set's answers from the GPU side) a paired test says whether the two deployments
answer differently beyond chance. docs/accuracy.md has the formats, the grading rules and the
figures' sources.

Reports: ``accuracy_report.json`` and ``accuracy.md``; every answer in
``accuracy/answers.jsonl``, kept across runs (an interrupted run asks only what is missing).
"""

from __future__ import annotations

import pytest

from pytest_ascend_oss.suites.accuracy import questions
from pytest_ascend_oss.suites.accuracy import run as accuracy_run

pytestmark = pytest.mark.accuracy


@pytest.fixture(scope="session")
def accuracy(server, ascend_settings, thresholds, progress):
    """(outcome, gates by effort, paired gates by effort): every question asked once per
    session, before the first verdict."""
    s = ascend_settings
    table = thresholds.values["accuracy"]
    # the file, the benchmark and the baseline were checked before the session started
    qset = questions.load(s.accuracy_questions, seed=s.accuracy_seed)
    benchmark = accuracy_run.benchmark_of(qset, s.accuracy_benchmark)
    sampling = accuracy_run.Sampling(
        tuple(table["efforts"]), s.accuracy_repeats or table["repeats"], table["max_tokens"],
        table["temperature"], table["requests_in_flight"], s.accuracy_seed)
    identity = " ".join(server.argv) if server.argv else server.base_url
    outcome = accuracy_run.ask(server.base_url, server.model, qset, sampling, s.results_dir,
                               identity, api_key=s.api_key, benchmark=benchmark,
                               progress=progress)
    pairs = None
    if s.accuracy_baseline:
        pairs = accuracy_run.paired(
            outcome, accuracy_run.baseline_correct(s.accuracy_baseline, qset))
    gates = accuracy_run.gates(outcome, table, thresholds.sources("accuracy"), pairs)
    accuracy_run.write(outcome, table, gates, s.results_dir, pairs,
                       reasoning_grows=thresholds.values["features"]["reasoning_grows"])
    return outcome, gates


def test_accuracy_reaches_the_published_figure(effort, accuracy, thresholds, record):
    """The top of the interval reaches the published figure minus the margin, at this effort:
    a failure says how far short, over how many questions."""
    outcome, gates = accuracy
    gate = gates["accuracy"][effort]
    row = accuracy_run.summary(outcome, thresholds.values["accuracy"]["confidence"])[effort]
    record("tokens_mean", row.get("tokens_mean"), unit="tokens")
    record("truncated", row.get("truncated"))
    record("reused_answers", outcome.reused)
    record.gate(gate)
    assert gate.passed, gate.message()


def test_answers_as_the_baseline_does(effort, accuracy, ascend_settings, record):
    """With --accuracy-baseline: the paired test finds no difference beyond chance."""
    if not ascend_settings.accuracy_baseline:
        pytest.skip("not applicable: no --accuracy-baseline (the same set's answers from the "
                    "GPU side) to pair with")
    gate = accuracy[1]["paired"].get(effort)
    if gate is None:
        pytest.fail(f"the baseline has no answers at effort {effort}", pytrace=False)
    record.gate(gate)
    assert gate.passed, gate.message()
