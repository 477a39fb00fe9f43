"""Long-context building blocks without a server: grid, haystack, sizing, verdicts, report."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from pytest_ascend_oss.suites.long_context import cases, haystack, report, runner
from pytest_ascend_oss.suites.long_context.cases import Case
from pytest_ascend_oss.suites.long_context.runner import Outcome
from pytest_ascend_oss.suites.long_context.sizing import Prepared

TEMPLATE = 70  # tokens the stub's chat template adds


def _stub_tokens(text: str) -> list[int]:
    """A stand-in tokenizer: a word with its leading space, or one punctuation mark, or one
    CJK character is a token (sentences then never share a token, as with o200k)."""
    return [hash(t) % 1000 for t in re.findall(r" ?[A-Za-z']+|\d|[^\sA-Za-z\d]|\s+", text)]


def _stub_server(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/tokenize":
        return httpx.Response(200, json={"tokens": _stub_tokens(json.loads(request.content)["prompt"])})
    if request.url.path == "/v1/chat/completions":
        body = json.loads(request.content)
        n = TEMPLATE + len(_stub_tokens(body["messages"][0]["content"]))
        return httpx.Response(200, json={"usage": {"prompt_tokens": n}})
    if request.url.path == "/v1/models":
        return httpx.Response(200, json={"data": [{"id": "m", "max_model_len": 4096}]})
    return httpx.Response(404)


@pytest.fixture
def stub_runner():
    r = runner.Runner("http://stub", "m", cases.NeedleSettings(max_tokens=64))
    r.http = r.sizer.http = httpx.Client(base_url="http://stub",
                                         transport=httpx.MockTransport(_stub_server))
    yield r
    r.close()


def test_grid_is_the_guides_at_131072_and_scales_down():
    assert cases.grid_lengths(131072) == [1024, 32768, 65536, 98304, 131072]
    assert cases.grid_lengths(32768) == [1024, 8192, 16384, 24576, 32768]
    assert cases.grid_lengths(2048) == [512, 1024, 1536, 2048]
    with pytest.raises(cases.NeedleError, match="too small"):
        cases.grid_lengths(100)


def test_int_lists_are_checked():
    assert cases.parse_int_list("0, 50,100", "--niah-depths") == [0, 50, 100]
    with pytest.raises(cases.NeedleError, match="--niah-depths"):
        cases.parse_int_list("0,half", "--niah-depths")
    with pytest.raises(cases.NeedleError, match="0..100"):
        cases.parse_int_list("0,120", "--niah-depths")
    with pytest.raises(cases.NeedleError, match="at least 512"):
        cases.parse_int_list("100,4096", "--niah-lengths")


@pytest.mark.parametrize("language", haystack.LANGUAGES)
def test_haystack_is_seeded_and_clean(language):
    a = haystack.sentences(3, 200, language)
    assert a == haystack.sentences(3, 200, language)
    assert a != haystack.sentences(4, 200, language)
    haystack.assert_clean("".join(a), cases.GUIDE_NEEDLE, cases.GUIDE_QUESTION)
    assert not re.search(r"\d", "".join(a))


def test_clean_check_refuses_leaks():
    with pytest.raises(haystack.HaystackError, match="7842"):
        haystack.assert_clean("The bus 7842 left.", "The secret code is 7842.", "What?")
    with pytest.raises(haystack.HaystackError, match="secret"):
        haystack.assert_clean("A secret garden.", "The secret code is 7842.",
                              "What is the secret code?")
    with pytest.raises(haystack.HaystackError, match="language"):
        haystack.sentences(0, 1, "fr")


@pytest.mark.parametrize("depth", [0, 25, 50, 75, 100])
def test_prepared_prompt_is_exact_and_needle_at_the_depth(stub_runner, depth):
    case = Case("guide", 4096, depth)
    p = stub_runner.sizer.prepare(case)
    content = p.body["messages"][0]["content"]
    assert p.prompt_tokens == 4096 - 64 == TEMPLATE + len(_stub_tokens(content))
    assert content.count(cases.GUIDE_NEEDLE) == 1
    assert content.endswith("\n\n" + cases.GUIDE_QUESTION)
    assert abs(p.actual_depth - depth) < 1.0  # a sentence is ~10 of ~3,900 tokens
    before = content.split(cases.GUIDE_NEEDLE)[0]
    assert before == "" or before.endswith((".", "yes", " "))


def test_every_case_has_its_own_haystack(stub_runner):
    """No shared prefix between cases: the server's prefix cache must not shorten a prefill."""
    a = stub_runner.sizer.prepare(Case("guide", 2048, 50)).body["messages"][0]["content"]
    b = stub_runner.sizer.prepare(Case("guide", 2048, 100)).body["messages"][0]["content"]
    assert a[:200] != b[:200]


def test_keyed_case_places_four_needles_and_asks_one(stub_runner):
    p = stub_runner.sizer.prepare(Case("keyed", 2048, 50))
    content = p.body["messages"][0]["content"]
    assert len(p.codes) == 4 and len(set(p.codes)) == 4
    assert all(code in content for code in p.codes)
    asked = re.search(r"for (\w+)\?$", content).group(1)
    assert f"for {asked} is {p.codes[0]}." in content


def test_case_longer_than_the_server_fails_with_its_limit(stub_runner):
    outcome = stub_runner.run(Case("guide", 8192, 50))
    assert not outcome.passed
    assert "max_model_len is 4096" in outcome.verdict and "8192" in outcome.verdict


def _judged(kind, content, codes=("7842",), finish_reason="stop"):
    o = Outcome(Case(kind, 1024, 50), content=content, finish_reason=finish_reason)
    runner.judge(o, Prepared(o.case, {}, None, list(codes), 0, 0, 50.0))
    return o


def test_verdicts_are_exact():
    assert _judged("guide", "The secret code is 7842.").passed
    assert not _judged("guide", "It is 7843.").passed
    assert not _judged("guide", "Either 7842 or 1234.").passed  # hedging is not recall
    assert "no final answer" in _judged("guide", "").verdict
    assert _judged("none", "I found no secret code in the text.", ()).passed
    assert _judged("none", "文中没有密码。", ()).passed
    assert not _judged("none", "The secret code is 7842.", ()).passed


@pytest.mark.parametrize("content, finish_reason, why", [
    ("", "length", "no final answer"),  # the whole budget went to the analysis channel
    ("", "stop", "no final answer"),
    ("I found no secret code in the", "length", "did not finish"),
    ("The code is hidden well.", "stop", "does not say there is no code"),
])
def test_no_needle_control_needs_an_answer_that_says_so(content, finish_reason, why):
    judged = _judged("none", content, (), finish_reason)
    assert not judged.passed and why in judged.verdict


def test_errors_and_log_evidence_fail_the_case():
    o = Outcome(Case("guide", 1024, 0), content="The secret code is 7842.",
                evidence=["server log: torch.OutOfMemoryError: CUDA out of memory"])
    runner.judge(o, Prepared(o.case, {}, None, ["7842"], 0, 0, 0.0))
    assert not o.passed and "out of memory" in o.verdict


def test_report_files(tmp_path):
    outcomes = [_judged("guide", "The secret code is 7842."), _judged("guide", "no idea")]
    outcomes[0].case = Case("guide", 1024, 0)
    outcomes[0].ttft_s = 0.2
    outcomes[1].case = Case("guide", 32768, 25)
    report.write_json(tmp_path / "r.json", outcomes, {"model": "m"})
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["summary"]["by_kind"]["guide"] == {"cases": 2, "passed": 1, "recall": 0.5}
    limits = {"ttft_max_s": 5.0, "ttft_max_s_by_length": {}}
    table = report.markdown(outcomes, limits, "p")
    assert "| 0% | ~1K" in table and "❌" in table
    assert report.heatmap(tmp_path / "h.png", outcomes, limits).stat().st_size > 1000


METRICS = """# TYPE vllm:num_preemptions counter
vllm:num_preemptions_total{{engine="0",model_name="m"}} {preempted}
# TYPE vllm:request_success counter
vllm:request_success_total{{engine="0",finished_reason="stop",model_name="m"}} 7.0
vllm:request_success_total{{engine="0",finished_reason="error",model_name="m"}} {errors}
vllm:request_success_total{{engine="0",finished_reason="abort",model_name="m"}} 0.0
"""


def test_trouble_counters_read_only_the_labels_that_mean_trouble():
    from pytest_ascend_oss.transport.prom import parse_trouble

    counters = parse_trouble(METRICS.format(preempted=2.0, errors=1.0))
    assert counters == {"preemptions": 2.0, "requests ended in error": 1.0,
                        "requests aborted": 0.0}


def test_a_preemption_during_a_case_is_evidence_against_it(stub_runner):
    """Attach mode has no server log; /metrics still tells a KV cache that overflowed."""
    page = METRICS.format(preempted=3.0, errors=0.0)
    stub_runner.http = httpx.Client(base_url="http://stub", transport=httpx.MockTransport(
        lambda request: httpx.Response(200, text=page)))
    before = {"preemptions": 1.0, "requests ended in error": 0.0, "requests aborted": 0.0}
    assert stub_runner._counter_trouble(before) == [
        "server /metrics during the case: preemptions +2"]
    assert stub_runner._counter_trouble({**before, "preemptions": 3.0}) == []
    assert stub_runner._counter_trouble(None) == []  # no /metrics: nothing claimed either way


def test_ttft_bound_is_the_smallest_listed_length_at_or_above_the_case():
    from pytest_ascend_oss.suites.long_context.verdict import ttft_bound

    limits = {"ttft_max_s": 5.0, "ttft_max_s_by_length": {1024: 1.0, 65536: 20.0}}
    assert ttft_bound(limits, 1024) == (1.0, "ttft_max_s_by_length.1024")
    assert ttft_bound(limits, 32768) == (20.0, "ttft_max_s_by_length.65536")
    assert ttft_bound(limits, 131072) == (5.0, "ttft_max_s")  # beyond the table: the flat bound
    assert ttft_bound({"ttft_max_s": 5.0, "ttft_max_s_by_length": {}}, 131072)[0] == 5.0
