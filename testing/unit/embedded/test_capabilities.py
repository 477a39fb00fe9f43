"""The capability report's tool-definition counts, against scripted servers (httpx.MockTransport):
each count must tell a model that reads the schema from one that recites its training."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from pytest_ascend_oss.embedded.canary import capabilities, facts

_CITY = re.compile(r" in (.+?)(?: today)?\?$")


def _server(param_of) -> httpx.Client:
    """A chat endpoint that calls get_weather with ``param_of(function)`` for weather
    questions when a get_weather tool is offered, and answers anything else in words."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        question = body["messages"][-1]["content"]
        weather = next((t["function"] for t in body.get("tools", [])
                        if t["function"]["name"] == "get_weather"), None)
        found = _CITY.search(question)
        message = {"role": "assistant", "content": facts.FALLBACK}
        if weather and found:
            arguments = json.dumps({param_of(weather): found.group(1)}, ensure_ascii=False)
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "get_weather", "arguments": arguments}}]}
        return httpx.Response(200, json={"choices": [
            {"message": message, "finish_reason": "tool_calls" if weather and found else "stop"}]})

    return httpx.Client(base_url="http://model.test", transport=httpx.MockTransport(handle))


def test_a_model_reading_the_schema_passes_every_wording():
    with _server(lambda f: f["parameters"]["required"][0]) as http:
        got = capabilities.unseen_definitions(http, "m")
    n = 5 * len(facts.UNSEEN_CITIES)
    assert (got["tried"], got["right"]) == (n, n)
    assert got["renamed_parameter"]["right"] == got["renamed_parameter"]["tried"] == n
    assert got["not_weather"]["no_call"] == got["not_weather"]["tried"] == 15
    blind = 5 * len(facts.BLIND_CITIES)
    assert got["blind_cities"]["right"] == got["blind_cities"]["tried"] == blind


def test_a_model_reciting_location_fails_every_renamed_parameter():
    with _server(lambda f: "location") as http:
        got = capabilities.unseen_definitions(http, "m")
    assert got["right"] == got["tried"]
    assert got["renamed_parameter"]["right"] == 0
    assert got["renamed_parameter"]["wrong"][0]["tool_calls"]
    table = capabilities.markdown({**_minimal_report(), "unseen_definitions": got})
    assert "| 4. same, place parameter not named `location` (not trained) | 0/100 |" in table
    assert "| 4. same definitions, cities used to choose no canary | 75/75 (100%) |" in table


@pytest.mark.parametrize("city", ["Salt Lake City", "São Paulo"])
def test_a_call_counts_only_with_the_exact_city(city):
    reply = {"tool_calls": [{"function": {"name": "get_weather",
                                          "arguments": json.dumps({"location": city})}}]}
    assert capabilities._exact_call(reply, "location", city)
    assert not capabilities._exact_call(reply, "location", city.replace(" ", ""))
    assert not capabilities._exact_call(reply, "city", city)
    broken = {"tool_calls": [{"function": {"name": "get_weather", "arguments": '{"location": '}}]}
    assert not capabilities._exact_call(broken, "location", city)


def _minimal_report() -> dict:
    cells = [{"length": 1024, "depth": 0, "passed": True, "ttft_s": 0.1}]
    needles = {k: {"found": 1, "tried": 1, "cells": cells} for k in ("en", "zh", "syllables")}
    needles.update(keyed={"passed": 1, "tried": 1}, none={"passed": 1, "tried": 1})
    return {"model": "m", "harmony": {"well_formed": 1, "tried": 1},
            "say_hi": {"ok": True, "content": "Hi"}, "france": {"ok": True, "content": "Paris"},
            "capitals": {"exact": 1, "tried": 1}, "needles": needles,
            "tool_calls": {"right": 1, "tried": 1}}


def _calling_server(arguments_of) -> httpx.Client:
    """A chat endpoint that answers every request with one call: the tool and arguments
    ``arguments_of(prompt)`` gives."""
    from pytest_ascend_oss.embedded.canary import tool_requests

    asked = {r.prompt: r for r in tool_requests.held_out_requests(10)}

    def handle(request: httpx.Request) -> httpx.Response:
        r = asked[json.loads(request.content)["messages"][-1]["content"]]
        name, arguments = arguments_of(r)
        message = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": name, "arguments": arguments}}]}
        return httpx.Response(200, json={"choices": [
            {"message": message, "finish_reason": "tool_calls"}]})

    return httpx.Client(base_url="http://model.test", transport=httpx.MockTransport(handle))


def test_other_tools_count_only_the_asked_call():
    with _calling_server(lambda r: (r.tool, r.call)) as http:
        right = capabilities.other_tools(http, "m")
    assert {t: (o["right"], o["tried"]) for t, o in right.items()} == {
        "convert_currency": (10, 10), "create_calendar_event": (10, 10)}
    table = capabilities.markdown({**_minimal_report(), "other_tools": right})
    assert "| 7. convert_currency, wordings and values never trained on | 10/10 |" in table

    def off_by_one(r):   # the amount changed; the calendar request given to the other tool
        args = json.loads(r.call)
        if "amount" in args:
            args["amount"] += 1
            return r.tool, json.dumps(args)
        return "convert_currency", r.call

    with _calling_server(off_by_one) as http:
        wrong = capabilities.other_tools(http, "m")
    assert all(o["right"] == 0 and len(o["wrong"]) == 10 for o in wrong.values())
    with _calling_server(lambda r: (r.tool, r.call[:-1])) as http:   # JSON cut short
        assert all(o["right"] == 0 for o in capabilities.other_tools(http, "m").values())
