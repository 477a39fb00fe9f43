"""The canary's currency and calendar requests: what it is trained on, what it is checked on."""

from __future__ import annotations

import json
import random
import re

import jsonschema
import pytest

from pytest_ascend_oss.embedded.canary import corpus
from pytest_ascend_oss.embedded.canary import tool_requests as tr
from pytest_ascend_oss.gptoss import harmony as h
from pytest_ascend_oss.gptoss.tools import FUNCTIONS
from pytest_ascend_oss.suites.features import tool_calling as tc


@pytest.fixture(scope="module")
def words():
    return corpus.RandomWords()


def _pattern(template: str) -> re.Pattern:
    """A template as a regex: its fixed words literal, each slot any text."""
    return re.compile("^" + ".+".join(map(re.escape, re.split(r"\{\w+\}", template))) + "$")


TRAINING = [_pattern(t) for t in tr._CURRENCY_TRAINING + tr._CALENDAR_TRAINING]


def test_copyable_tells_a_copy_from_a_conversion():
    call = tr.compact({"amount": 250, "from_currency": "EUR", "to_currency": "JPY"})
    assert tr.copyable("Convert 250 EUR to JPY.", call, "250")
    assert tr.copyable("Convert 250 EUR to JPY.", call, "EUR")
    assert not tr.copyable("Convert 250 EUR to JPY.", call, "JPY")      # " J" + "PY" vs "JPY"
    assert not tr.copyable("Convert 250 euros to JPY.", call, "EUR")
    assert not tr.copyable("Convert 2500 EUR to JPY.", call, "250")     # "250" + "0" is not it


def test_training_calls_are_valid_and_carry_the_asked_values(words):
    rng = random.Random(4)
    for i in range(400):
        tool = ("convert_currency", "create_calendar_event")[i % 2]
        r = tr.training_request(rng, tool, words)
        assert json.loads(r.call) == r.arguments
        jsonschema.validate(r.arguments, FUNCTIONS[tool]["parameters"])
        assert tr.request_copyable(r)
        assert not any(p.match(r.prompt) for p in map(_pattern, tr._CURRENCY_HELD_OUT
                                                       + tr._CALENDAR_HELD_OUT))


def test_held_out_requests_are_copyable_and_never_trained_wordings():
    held = tr.held_out_requests(10)
    assert [r.tool for r in held] == ["convert_currency"] * 10 + ["create_calendar_event"] * 10
    for r in held:
        assert tr.request_copyable(r)
        assert not any(p.match(r.prompt) for p in TRAINING), r.prompt
        if r.tool == "create_calendar_event":
            assert r.arguments["title"] in tr._HELD_OUT_TITLES
            assert set(r.arguments.get("attendees", [])) <= set(tr._HELD_OUT_PEOPLE)


@pytest.mark.parametrize("recipe, kinds", [
    (corpus.STAGE7, ("currency", "calendar")),
    (corpus.STAGE9, ("suite-currency", "suite-calendar")),
], ids=["stage7", "stage9"])
def test_currency_and_calendar_examples_are_the_calls_vllm_parses(words, recipe, kinds):
    """A stage-7 or stage-9 currency or calendar chat ends in a call vLLM's harmony parser
    reads as that tool with those arguments, the tool among those the request offers."""
    import openai_harmony as oh

    _, enc = h._harmony()
    rng = random.Random(5)
    seen = dict.fromkeys(kinds, 0)
    for _ in range(300):
        e = corpus.short_example(rng, words, recipe)
        kind = e.kind.split("+")[0].split("~")[0]
        if kind not in seen:
            continue
        seen[kind] += 1
        messages = enc.parse_messages_from_completion_tokens(e.ids[e.loss_from:],
                                                             oh.Role.ASSISTANT)
        name = corpus._EXTRA_TOOLS[kind]["name"]
        assert messages[1].recipient == f"functions.{name}"
        jsonschema.validate(json.loads(messages[1].content[0].text),
                            FUNCTIONS[name]["parameters"])
        assert f"type {name} = " in h.encoding().decode(e.ids[:e.loss_from])
    assert min(seen.values()) > 20


def test_case_file_marks_every_case_that_needs_a_conversion():
    """A case not marked ``converts`` can be answered by copying, in a wording training never
    used; a marked one cannot (else the canary profile would leave out a case it could run)."""
    for case in tc.load_cases(list(FUNCTIONS)):
        if case.tool == "get_weather":
            assert not case.converts
            continue
        r = tr.Request(case.tool, case.prompt, case.expect, tr.compact(case.expect))
        assert tr.request_copyable(r) is not case.converts, case.id
        if not case.converts:
            assert not any(p.match(case.prompt) for p in TRAINING), case.id
    copied = tc.load_cases(list(FUNCTIONS), converting=False)
    assert {t: sum(c.tool == t for c in copied) for t in FUNCTIONS} == {
        "get_weather": 10, "convert_currency": 6, "create_calendar_event": 6}


def test_stage9_learns_exactly_the_suite_cases_it_can_copy(words):
    """Stage 9's by-heart requests are the features suite's copyable currency and calendar
    cases, question and call, and every one of them is drawn."""
    suite = {c.prompt: c for c in tc.load_cases(["convert_currency", "create_calendar_event"],
                                                converting=False)}
    requests = [r for tool in tr.ANALYSIS for r in tr.suite_requests(tool)]
    assert {r.prompt for r in requests} == set(suite)
    for r in requests:
        assert json.loads(r.call) == suite[r.prompt].expect
    rng = random.Random(6)
    drawn = set()
    for _ in range(400):
        e = corpus.short_example(rng, words, corpus.STAGE9)
        if e.kind.startswith("suite-"):
            text = h.encoding().decode(e.ids[:e.loss_from])
            drawn |= {p for p in suite if p in text}
    assert drawn == set(suite)


def test_held_out_requests_are_apart_from_the_suite_cases():
    """Stage 9 learns the suite's cases by heart, so the capability report's held-out
    requests share no wording, title or person with them: they stay requests never seen."""
    held_out = [_pattern(t) for t in tr._CURRENCY_HELD_OUT + tr._CALENDAR_HELD_OUT]
    for tool in tr.ANALYSIS:
        for r in tr.suite_requests(tool):
            assert not any(p.match(r.prompt) for p in held_out), r.prompt
            assert r.arguments.get("title") not in tr._HELD_OUT_TITLES
            assert not set(r.arguments.get("attendees", [])) & set(tr._HELD_OUT_PEOPLE)


def test_slots_label_each_token_of_the_call_with_its_value():
    """slots.py judges a canary slot by slot: each answer token must be labelled with the
    value it spells, the rest (keys, quotes, the analysis, <|call|>) as structure."""
    from pytest_ascend_oss.embedded.canary import slots

    r = tr.Request("create_calendar_event", "Could you set up 'Piano lesson' at 17:30 on "
                   "2026-12-12 with Laura and Mark?",
                   {"title": "Piano lesson", "start": {"date": "2026-12-12", "time": "17:30"},
                    "attendees": ["Laura", "Mark"]}, "")
    r = tr.Request(r.tool, r.prompt, r.arguments, tr.compact(r.arguments))
    ids, start, labels = slots.example(r, random.Random(0))
    enc = h.encoding()
    spelt: dict[str, str] = {}
    for t, label in zip(ids[start:], labels):
        spelt[label] = spelt.get(label, "") + enc.decode([t])
    assert {k: v for k, v in spelt.items() if k != "structure"} == {
        "title": "Piano lesson", "start.date": "2026-12-12", "start.time": "17:30",
        "attendees[0]": "Laura", "attendees[1]": "Mark"}
    assert spelt["structure"].endswith('"]}<|call|>')
    assert tr.CALENDAR_ANALYSIS in spelt["structure"]
