"""The server under test steps aside for an extra server with no card of its own, and comes
back before the next test that needs it, the cost of both launches recorded."""

from __future__ import annotations

from pytest_ascend_oss.server import devices
from pytest_ascend_oss.server.step_aside import StepAside


def _aside(events: list, clock: list) -> StepAside:
    plan = devices.plan("0", {}, 1, None)

    def stop_server():
        events.append("server stopped")
        clock[0] += 5.0
        return {"waited_s": 4.0, "released": True}

    def start_server():
        events.append("server started")
        clock[0] += 40.0

    return StepAside(plan, stop_server, start_server, events.append, clock=lambda: clock[0])


def test_the_extra_server_is_kept_for_its_users_then_the_server_comes_back():
    events, clock = [], [0.0]
    aside = _aside(events, clock)
    aside.step_aside("variant-eager")
    assert aside.aside and aside.plan.lend("variant-eager", 1) == (0,)
    aside.borrowed("variant-eager", lambda: (events.append("eager stopped"),
                                             aside.plan.give_back("variant-eager")), "eager")
    assert aside.keeps(["server", "eager"], "tests/test_features.py::test_graph[batch=4]")
    assert not aside.keeps(["server"], "tests/test_features.py::test_served_dtype_is_bf16")
    aside.come_back()
    assert not aside.aside and aside.plan.lent == {}
    # the extra server stops before the server under test starts again on its card
    assert [e for e in events if not e.startswith("device plan")] == [
        "server stopped", "eager stopped", "server started"]
    entry = aside.plan.public()["server_stepped_aside"][0]
    assert entry["for"] == "variant-eager" and entry["servers"] == ["variant-eager"]
    assert entry["server_stopped_s"] == 5.0 and entry["server_back_s"] == 40.0
    assert entry["cost_s"] == 45.0 and entry["cards_released"]["released"] is True
    assert any("stepping aside for variant-eager cost 45.0 s" in e for e in events)


def test_a_test_by_id_is_kept_and_coming_back_twice_is_once():
    events, clock = [], [0.0]
    aside = _aside(events, clock)
    aside.step_aside("variant-chunked_prefill")
    aside.borrowed("variant-chunked_prefill", lambda: None, "t.py::test_chunked")
    assert aside.keeps([], "t.py::test_chunked") and not aside.keeps([], "t.py::test_next")
    aside.come_back()
    aside.come_back()
    assert events.count("server started") == 1


def test_a_server_that_does_not_come_back_still_records_the_time():
    events, clock = [], [0.0]
    aside = _aside(events, clock)

    def fails():
        clock[0] += 30.0
        raise RuntimeError("did not start")

    aside._start_server = fails
    aside.step_aside("pooling-twin")
    try:
        aside.come_back()
    except RuntimeError:
        pass
    entry = aside.plan.asides[0]
    assert entry["server_back_s"] == 30.0 and not aside.aside
