"""The serving vLLM's version and what it accepts (server/stack.py)."""

from __future__ import annotations

import pytest

from pytest_ascend_oss.server import stack


def test_every_difference_cites_upstream_and_names_a_release():
    from packaging.version import Version

    for row in stack.DIFFERENCES:
        assert Version(row.since) and "vllm/" in row.source and row.what


@pytest.mark.parametrize(("reported", "installed", "version", "source"), [
    ("0.18.0", "0.32.0", "0.18.0", "the server's /version"),
    (None, "0.32.0", "0.32.0", "the vLLM installed beside the suite"),
    (None, None, None, "unknown: the newest vLLM's behaviour is assumed"),
])
def test_the_server_s_own_word_comes_first(monkeypatch, reported, installed, version, source):
    monkeypatch.setattr(stack, "installed_vllm", lambda: installed)
    found = stack.serving_version(reported)
    assert (found.version, found.source) == (version, source)


def test_results_say_what_the_version_lacks():
    assert stack.ServingVersion("0.18.0", "x").public() == {
        "version": "0.18.0", "source": "x",
        "lacks": ["pooler_config_task", "harmony_honours_tool_choice_none",
                  "cpu_runs_without_preload"]}
    assert stack.ServingVersion("0.32.0", "x").public()["lacks"] == []


def test_a_misspelt_key_is_a_bug_not_a_guess():
    with pytest.raises(KeyError):
        stack.ServingVersion("0.18.0", "x").has("pooler_task")
