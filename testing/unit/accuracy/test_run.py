"""The accuracy run against a fake chat server: asking, keeping answers across runs, the gates,
the paired comparison and the table."""

import json

import pytest

from pytest_ascend_oss import thresholds
from pytest_ascend_oss.metrics import accuracy as stats
from pytest_ascend_oss.suites.accuracy import questions
from pytest_ascend_oss.suites.accuracy import run as accuracy_run
from testing.fakes.quiz import Quiz, serving

QSET = questions.load(None)
RIGHT = {q.prompt: f"The capital is {q.answer}." for q in QSET.questions}
TABLE = thresholds.load(None, "cpu-canary").values["accuracy"]
SOURCE = thresholds.load(None, "cpu-canary").sources("accuracy")


def _sampling(**kw):
    base = {"efforts": ("low", "high"), "repeats": 1, "max_tokens": 64, "temperature": 0.0,
                "concurrency": 4}
    return accuracy_run.Sampling(**{**base, **kw})


def _ask(url, tmp_path, sampling=None, server="s1"):
    said = []
    outcome = accuracy_run.ask(url, "m", QSET, sampling or _sampling(), tmp_path, server,
                               progress=said.append)
    return outcome, said


def test_every_question_at_every_effort_passes_and_costs_more_at_high(tmp_path):
    quiz = Quiz(RIGHT)
    with serving(quiz) as url:
        outcome, said = _ask(url, tmp_path)
    assert len(quiz.requests) == 48 and {r["reasoning_effort"] for r in quiz.requests} == {
        "low", "high"}
    assert "24 questions x 1 repeats x 2 efforts = 48 answers" in said[0]
    assert "48/48 answered, 48 right, 0 failed" in said[-1]
    found = accuracy_run.summary(outcome, 0.95)
    assert found["low"]["accuracy"] == 1.0 and (found["low"]["low"], found["low"]["high"]) == (
        1.0, 1.0)
    assert found["high"]["tokens_mean"] == 3 * found["low"]["tokens_mean"]
    gates = accuracy_run.gates(outcome, TABLE, SOURCE)
    assert all(g.passed for g in gates["accuracy"].values()) and gates["paired"] == {}
    gate = gates["accuracy"]["high"]
    assert gate.bound == pytest.approx(0.95)
    assert "[cpu-canary.accuracy] published.capitals.high" in gate.source


def test_an_interrupted_run_asks_only_what_is_missing(tmp_path):
    with serving(Quiz(RIGHT)) as url:
        _ask(url, tmp_path)
    path = tmp_path / accuracy_run.ANSWERS
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:30]) + "\n" + lines[30][:20])  # cut mid-line by a crash
    quiz = Quiz(RIGHT)
    with serving(quiz) as url:
        outcome, said = _ask(url, tmp_path)
    assert len(quiz.requests) == 18 and outcome.reused == 30
    assert f"30 kept from {path}" in said[0] and len(outcome.rows) == 48
    # another server, or other sampling: nothing is reused
    quiz = Quiz(RIGHT)
    with serving(quiz) as url:
        outcome, _ = _ask(url, tmp_path, server="s2")
    assert len(quiz.requests) == 48 and outcome.reused == 0


def test_a_failed_request_is_not_a_wrong_answer_and_is_asked_again(tmp_path):
    failing = {QSET.questions[0].prompt}
    with serving(Quiz(RIGHT, fail=failing)) as url:
        outcome, _ = _ask(url, tmp_path)
    assert len(outcome.failed) == 2 and "HTTP 500" in outcome.failed[0]
    gates = accuracy_run.gates(outcome, TABLE, SOURCE)
    gate = gates["accuracy"]["low"]
    assert gate.status == "NOT MEASURED" and "2 requests failed" in gate.message()
    quiz = Quiz(RIGHT)
    with serving(quiz) as url:
        outcome, _ = _ask(url, tmp_path)
    assert len(quiz.requests) == 2 and not outcome.failed
    assert all(g.passed for g in accuracy_run.gates(outcome, TABLE, SOURCE)["accuracy"].values())


def test_shuffled_answers_fail_saying_how_far_short(tmp_path):
    prompts = [q.prompt for q in QSET.questions]
    shuffled = {p: RIGHT[prompts[(i + 1) % len(prompts)]] for i, p in enumerate(prompts)}
    with serving(Quiz(shuffled)) as url:
        outcome, _ = _ask(url, tmp_path)
    gate = accuracy_run.gates(outcome, TABLE, SOURCE)["accuracy"]["low"]
    assert not gate.passed and gate.value == 0.0
    assert "accuracy 0.000 in [0.000, 0.000] over 24 questions" in gate.message()
    assert "0.950 short at low" in gate.message()


def test_the_paired_test_tells_other_answers_from_as_many_answers(tmp_path):
    baseline_dir, npu_dir = tmp_path / "gpu", tmp_path / "npu"
    with serving(Quiz(RIGHT)) as url:
        _ask(url, baseline_dir)
    baseline = accuracy_run.baseline_correct(baseline_dir / accuracy_run.ANSWERS, QSET)
    assert baseline["low"] == {q.id: True for q in QSET.questions}
    wrong = {p: "No idea." for p in list(RIGHT)[:12]}
    with serving(Quiz({**RIGHT, **wrong})) as url:
        outcome, _ = _ask(url, npu_dir)
    pairs = accuracy_run.paired(outcome, baseline)
    assert (pairs["low"].only_baseline, pairs["low"].only_deployment) == (12, 0)
    assert pairs["low"].p_value == pytest.approx(2 * 0.5 ** 12)
    gates = accuracy_run.gates(outcome, TABLE, SOURCE, pairs)
    assert not gates["paired"]["low"].passed
    assert "baseline alone right on 12" in gates["paired"]["low"].message()
    accuracy_run.write(outcome, TABLE, gates, npu_dir, pairs)
    table = (npu_dir / accuracy_run.TABLE).read_text()
    assert "| low | 50.0% |" in table and "| low | 24 | 50.0% | 12 | 0 |" in table
    report = json.loads((npu_dir / accuracy_run.REPORT).read_text())
    assert report["paired"]["low"]["only_baseline"] == 12
    assert report["efforts"]["low"]["accuracy"] == 0.5


def test_a_baseline_of_another_set_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_text(json.dumps({"effort": "low", "question": "capital-france",
                                "correct": True, "expected": "Paris"}) + "\n"
                    + json.dumps({"effort": "low", "question": "q-17", "correct": True}) + "\n")
    with pytest.raises(accuracy_run.AccuracyError, match=r"answers\.jsonl:2: question 'q-17' "
                                                         r"is not in built-in"):
        accuracy_run.baseline_correct(path, QSET)
    path.write_text('{"effort": "low"}\n')
    with pytest.raises(accuracy_run.AccuracyError, match=r":1: not an answer of this suite"):
        accuracy_run.baseline_correct(path, QSET)


def test_equal_lengths_at_every_effort_are_pointed_out(tmp_path):
    with serving(Quiz(RIGHT)) as url:
        outcome, _ = _ask(url, tmp_path, _sampling(efforts=("low",)))
    for row in outcome.rows:
        row["completion_tokens"] = 7
    outcome.sampling = _sampling(efforts=("low",))
    text = accuracy_run.markdown(outcome, TABLE, accuracy_run.summary(outcome, 0.95), {}, None)
    assert "is the reasoning effort applied" not in text  # one effort: nothing to compare
    with serving(Quiz(RIGHT)) as url:
        outcome, _ = _ask(url, tmp_path / "two")
    for row in outcome.rows:
        row["completion_tokens"] = 7
    text = accuracy_run.markdown(outcome, TABLE, accuracy_run.summary(outcome, 0.95), {}, None)
    assert "is the reasoning effort applied" in text
    quiet = accuracy_run.markdown(outcome, TABLE, accuracy_run.summary(outcome, 0.95), {}, None,
                                  reasoning_grows=False)  # the canary: no growth expected
    assert "is the reasoning effort applied" not in quiet


def test_interval_and_mcnemar_figures():
    low, high = stats.interval([1.0] * 20 + [0.0] * 4)
    assert 0.6 < low < 20 / 24 < high <= 1.0
    assert stats.interval([0.5, 0.5]) == (0.5, 0.5)
    with pytest.raises(ValueError):
        stats.interval([])
    same = stats.mcnemar([True, False], [True, False])
    assert same.p_value == 1.0 and same.agreement == 1.0
    assert stats.mcnemar([True] * 3, [False] * 3).p_value == pytest.approx(0.25)
