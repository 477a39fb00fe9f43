"""The servers a selection of acceptance tests starts, counted before anything starts."""

from __future__ import annotations

from types import SimpleNamespace

from pytest_ascend_oss.plugin import planned_servers


def _item(name, fixtures, **params):
    return SimpleNamespace(name=name, fixturenames=fixtures,
                           callspec=SimpleNamespace(params=params) if params else None)


def test_each_server_is_counted_once_in_the_order_met():
    items = [
        _item("test_say_hi_returns_text", ["client", "server"]),
        _item("test_graph_mode_matches_eager[batch=1]", ["eager", "server"], batch=1),
        _item("test_graph_mode_matches_eager[batch=4]", ["eager", "server"], batch=4),
        _item("test_parallel_variant_agrees[tp]", ["server_variant", "server"], row="tp"),
        _item("test_parallel_variant_agrees[pp]", ["server_variant", "server"], row="pp"),
        _item("test_long_prompt_under_chunked_prefill", ["server_variant", "server"]),
        _item("test_hidden_state_cosine", ["comparison", "pooling_twin", "server"]),
    ]
    assert planned_servers(items) == [
        "server under test", "variant eager", "variant tp", "variant pp",
        "variant chunked_prefill", "pooling twin"]


def test_tests_without_a_server_start_none():
    assert planned_servers([_item("test_mxfp4_is_not_served", ["checkpoint"])]) == []
