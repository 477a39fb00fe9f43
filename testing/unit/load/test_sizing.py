"""Who counts prompt tokens: the server where it can, a local tokenizer, or the usage ratio;
and an error from /tokenize that is not "absent" is shown, never worked around."""

from __future__ import annotations

import json

import httpx
import pytest

from pytest_ascend_oss.load import sizing
from pytest_ascend_oss.load.workload import prepare, words_text
from pytest_ascend_oss.transport.http import ServerError


def server(tokenize_status: int, tokens_per_word: float = 1.5) -> httpx.Client:
    """A server whose /tokenize answers ``tokenize_status``; completions report
    ``tokens_per_word`` x the words of a text prompt as its usage."""
    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path == "/tokenize":
            if tokenize_status != 200:
                return httpx.Response(tokenize_status, json={"detail": "no"})
            return httpx.Response(200, json={"tokens": [1] * len(body["prompt"].split())})
        if request.url.path == "/v1/completions":
            words = len(body["prompt"].split())
            return httpx.Response(200, json={"usage": {
                "prompt_tokens": round(words * tokens_per_word), "completion_tokens": 1}})
        return httpx.Response(404)

    return httpx.Client(base_url="http://server", transport=httpx.MockTransport(handle))


def test_the_servers_own_tokenizer_is_chosen_whenever_it_answers(tmp_path):
    chosen = sizing.choose(server(200), "m", tmp_path, words_text)
    assert isinstance(chosen, sizing.ServerTokenizer) and chosen.exact


@pytest.mark.parametrize("status", sizing.ABSENT)
def test_without_tokenize_and_tokenizer_prompts_are_sized_from_usage(status):
    chosen = sizing.choose(server(status, tokens_per_word=1.5), "m", None, words_text)
    assert isinstance(chosen, sizing.UsageRatio) and not chosen.exact
    assert chosen.tokens_per_word == pytest.approx(1.5, abs=0.01)
    assert chosen.words_for(300) == 200
    assert "approximate" in chosen.description and "usage" in chosen.description


def test_a_tokenize_error_that_is_not_absence_is_an_error():
    with pytest.raises(ServerError, match="/tokenize answers 401"):
        sizing.choose(server(401), "m", None, words_text)


def test_a_tokenizer_directory_without_a_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(sizing.SizingError, match="no tokenizer could be loaded"):
        sizing.choose(server(404), "m", tmp_path, words_text)


def test_approximate_requests_ask_no_exact_prompt_length_and_send_text():
    http = server(404, tokens_per_word=2.0)
    sizer = sizing.choose(http, "m", None, words_text)
    requests = prepare(http, "m", "completions", 3, 100, 8, seed=5, sizer=sizer)
    assert [r.prompt_tokens for r in requests] == [None] * 3
    assert all(isinstance(r.body["prompt"], str) for r in requests)
    assert [len(r.body["prompt"].split()) for r in requests] == [50] * 3
    assert len({r.body["prompt"] for r in requests}) == 3  # distinct: no prefix-cache hits


def test_a_local_tokenizer_makes_prompts_of_exactly_n_of_its_tokens():
    from pytest_ascend_oss.embedded.model import model_dir

    local = sizing.LocalTokenizer(model_dir())
    requests = prepare(server(404), "m", "completions", 3, 57, 8, seed=2, sizer=local)
    assert [len(r.body["prompt"]) for r in requests] == [57] * 3
    assert [r.prompt_tokens for r in requests] == [57] * 3
