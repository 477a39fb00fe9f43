import json

import pytest

from pytest_ascend_oss.suites.features import tool_calling as tc

CASE = tc.Case("currency-1", "convert_currency", "Convert 250 euros to US dollars.",
               {"amount": 250, "from_currency": "EUR", "to_currency": "USD"})


def message(arguments, name="convert_currency", content=None):
    return {"content": content, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": name, "arguments": arguments}}]}


def test_a_right_call_passes():
    args = json.dumps({"amount": 250.0, "from_currency": "EUR", "to_currency": "USD"})
    assert tc.judge_call(CASE, message(args), "tool_calls").ok


@pytest.mark.parametrize("msg, finish, invalid, said", [
    (message('{"amount": 250, "from_currency": "EUR"'), "tool_calls", True, "not JSON"),
    (message('{"amount": "250", "from_currency": "EUR", "to_currency": "USD"}'), "tool_calls",
     True, "schema"),
    (message('{"amount": 250, "from_currency": "EUR", "to_currency": "XYZ"}'), "tool_calls",
     True, "schema"),
    (message('{"amount": 25, "from_currency": "EUR", "to_currency": "USD"}'), "tool_calls",
     False, "not the asked"),
    (message('{"amount": 250, "from_currency": "EUR", "to_currency": "USD"}', name="get_weather"),
     "tool_calls", False, "not 'convert_currency'"),
    (message('{"amount": 250, "from_currency": "EUR", "to_currency": "USD"}'), "stop", False,
     "finish_reason"),
    (message('{"amount": 250, "from_currency": "EUR", "to_currency": "USD"}',
             content='{"amount": 250}'), "tool_calls", False, "JSON left in the content"),
    ({"content": '{"name": "convert_currency"}', "tool_calls": []}, "stop", False, "got 0"),
])
def test_each_way_a_call_goes_wrong_is_named(msg, finish, invalid, said):
    attempt = tc.judge_call(CASE, msg, finish)
    assert not attempt.ok and attempt.invalid == invalid and said in attempt.problem


def test_values_compare_as_a_client_means_them():
    assert tc.same_value({"location": "San Francisco"}, {"location": "san  francisco"})
    assert tc.same_value({"start": {"date": "2026-12-03"}}, {"start": {"date": "2026-12-03",
                                                                       "time": "10:00"}})
    assert tc.same_value(["Alice", "Bob"], ["bob", "alice"])
    assert tc.same_value(19.99, 19.990000001) and not tc.same_value(19.99, 19.9)
    assert not tc.same_value(1, True) and not tc.same_value({"a": 1}, {})


def test_a_qualified_place_names_the_same_place():
    """A real model may qualify the city; a different or merely similar one still fails."""
    for got in ("Toronto, Canada", "toronto, ON", "Toronto (Canada)"):
        assert tc.same_value({"location": "Toronto"}, {"location": got}), got
    for got in ("Torontoville", "New Toronto", "Toronto Canada", "Salt Lake", ""):
        want = "Salt Lake City" if got == "Salt Lake" else "Toronto"
        assert not tc.same_value({"location": want}, {"location": got}), got


def test_pass_at_k_and_pass_hat_k():
    def result(*oks):
        return tc.CaseResult(CASE, [tc.Attempt(ok, invalid=not ok) for ok in oks])

    s = tc.summary([result(True, True), result(True, False), result(False, False)], k=2)
    assert s["pass_at_k"] == pytest.approx(2 / 3) and s["pass_all_k"] == pytest.approx(1 / 3)
    assert s["invalid_calls"] == 3 and s["attempts"] == 6


def test_streamed_deltas_reassemble_by_index():
    chunks = [
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c", "function": {
            "name": "get_weather", "arguments": ""}}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {
            "arguments": '{"location": '}}]}}]},
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {
            "arguments": '"Oslo"}'}}]}, "finish_reason": "tool_calls"}]},
    ]
    calls, finish, content = tc.reassemble(chunks)
    assert calls == [{"name": "get_weather", "arguments": '{"location": "Oslo"}'}]
    assert finish == "tool_calls" and content == ""


def test_shipped_cases_fit_their_tools():
    """Every case's expected arguments are themselves valid for its tool: a case the schema
    refuses would fail every model."""
    import jsonschema

    from pytest_ascend_oss.gptoss.tools import FUNCTIONS

    cases = tc.load_cases(list(FUNCTIONS))
    assert len(cases) >= 10 and {c.tool for c in cases} == set(FUNCTIONS)
    for case in cases:
        jsonschema.validate(case.expect, FUNCTIONS[case.tool]["parameters"])
    assert len(tc.load_cases(["get_weather"])) == 10


@pytest.mark.parametrize("message, finish, said", [
    ({"content": "It is 18 C and raining."}, "stop", None),
    ({"content": "", "reasoning": "thinking"}, "stop", "no final answer"),
    ({"content": "ok<|channel|>"}, "stop", "harmony markup"),
    ({"content": "ok"}, "length", "finish_reason"),
    ({"content": None, "tool_calls": [{"id": "x"}]}, "tool_calls", "a tool call"),
])
def test_final_answer_problems(message, finish, said):
    problem = tc.final_answer_problem(message, finish)
    assert (problem is None) if said is None else said in problem
