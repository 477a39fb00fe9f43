"""The fault rewrites, response by response: each breaks what it says and nothing else."""

from __future__ import annotations

import json

import pytest

from pytest_ascend_oss.selfcheck import faults
from pytest_ascend_oss.selfcheck.faults import CUT, Rewriter


def chat_message(content="Hi there.", reasoning="User says hi.", tool_calls=None):
    message = {"role": "assistant", "content": content, "reasoning": reasoning}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {"choices": [{"message": message, "token_ids": [5, 6, 7],
                         "finish_reason": "stop"}]}


def chat_chunks():
    return [{"choices": [{"delta": {"role": "assistant", "content": ""}}]},
            {"choices": [{"delta": {"reasoning": "User says hi."}, "token_ids": [1]}]},
            {"choices": [{"delta": {"content": "Hi"}, "token_ids": [2]}]},
            {"choices": [{"delta": {"content": " there."}, "token_ids": [3]}]},
            {"choices": [], "usage": {"completion_tokens": 3}}]


def stream(fault, chunks=None, chat=True):
    rewriter = Rewriter(fault, chat=chat)
    out = []
    for chunk in chunks or chat_chunks():
        event = rewriter.event(json.loads(json.dumps(chunk)))
        if event is CUT:
            return out, True
        out.append(event)
    return out, False


def content_of(chunks):
    return "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks
                   if c["choices"])


def test_altered_tokens_changes_text_and_ids_of_both_endpoints():
    body = Rewriter("altered-tokens", chat=True).message(chat_message("Code 7842, hi."))
    assert body["choices"][0]["message"]["content"] == "Dpef 8953, ij."
    assert body["choices"][0]["token_ids"] == [4, 5, 6]
    completion = {"choices": [{"text": "Paris", "token_ids": [0, 9]}]}
    body = Rewriter("altered-tokens", chat=False).message(completion)
    assert body["choices"][0] == {"text": "Qbsjt", "token_ids": [1, 8]}
    chunks, cut = stream("altered-tokens")
    assert content_of(chunks) == "Ij uifsf." and not cut
    assert [c["choices"][0].get("token_ids") for c in chunks[1:4]] == [[0], [1], [2]]


def test_text_off_ids_changes_the_completion_text_only():
    completion = {"choices": [{"text": "Paris", "token_ids": [0, 9]}]}
    body = Rewriter("text-off-ids", chat=False).message(completion)
    assert body["choices"][0] == {"text": "Qbsjt", "token_ids": [0, 9]}
    body = Rewriter("text-off-ids", chat=True).message(chat_message("Code 7842, hi."))
    assert body["choices"][0]["message"]["content"] == "Code 7842, hi."  # chat untouched


def test_always_7842_says_it_once_and_keeps_the_reasoning():
    body = Rewriter("always-7842", chat=True).message(chat_message())
    assert body["choices"][0]["message"]["content"] == faults.FIXED_ANSWER
    assert body["choices"][0]["message"]["reasoning"] == "User says hi."
    chunks, _ = stream("always-7842")
    assert content_of(chunks) == faults.FIXED_ANSWER
    assert Rewriter("always-7842", True, "Do this.").message(chat_message())[
        "choices"][0]["message"]["content"] == "Do this."


def test_answer_in_reasoning_empties_the_answer_into_the_reasoning_field():
    message = Rewriter("answer-in-reasoning", chat=True).message(chat_message())[
        "choices"][0]["message"]
    assert message["content"] is None and message["reasoning"] == "User says hi.Hi there."
    chunks, _ = stream("answer-in-reasoning")
    assert content_of(chunks) == ""
    assert "".join(c["choices"][0]["delta"].get("reasoning") or "" for c in chunks
                   if c["choices"]) == "User says hi.Hi there."
    # a server that names the field reasoning_content keeps its name
    legacy = {"choices": [{"message": {"content": "Hi", "reasoning_content": "r"}}]}
    message = Rewriter("answer-in-reasoning", True).message(legacy)["choices"][0]["message"]
    assert message["reasoning_content"] == "rHi" and "reasoning" not in message


def test_harmony_leak_prefixes_the_answer_once():
    body = Rewriter("harmony-leak", chat=True).message(chat_message())
    assert body["choices"][0]["message"]["content"] == faults.HARMONY_LEAK + "Hi there."
    chunks, _ = stream("harmony-leak")
    assert content_of(chunks) == faults.HARMONY_LEAK + "Hi there."


def test_invalid_tool_json_breaks_every_call_once():
    calls = [{"id": "a", "type": "function",
              "function": {"name": "get_weather", "arguments": '{"location": "Oslo"}'}}]
    message = Rewriter("invalid-tool-json", True).message(chat_message(None, "r", calls))[
        "choices"][0]["message"]
    with pytest.raises(ValueError):
        json.loads(message["tool_calls"][0]["function"]["arguments"])
    deltas = [{"choices": [{"delta": {"tool_calls": [
                  {"index": 0, "function": {"name": "get_weather", "arguments": '{"loc'}}]}}]},
              {"choices": [{"delta": {"tool_calls": [
                  {"index": 0, "function": {"arguments": 'ation": "Oslo"}'}}]}}]}]
    chunks, _ = stream("invalid-tool-json", deltas)
    joined = "".join(c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                     for c in chunks)
    assert joined == '{{"location": "Oslo"}'


def test_stream_cut_ends_after_the_set_number_of_token_events():
    chunks, cut = stream("stream-cut")
    assert cut
    carrying = [c for c in chunks[1:] if c["choices"]]
    assert len(carrying) == faults.CUT_AFTER_EVENTS


@pytest.mark.parametrize("fault", ["first-token-delay", "token-delay", "http-500-bursts"])
def test_timing_and_error_faults_leave_the_answers_alone(fault):
    assert Rewriter(fault, True).message(chat_message()) == chat_message()
    assert stream(fault) == (chat_chunks(), False)


def test_http_500_comes_in_bursts_of_three_in_every_ten():
    failed = [n for n in range(30) if faults.injects_500("http-500-bursts", n)]
    assert failed == [4, 5, 6, 14, 15, 16, 24, 25, 26]
    assert not any(faults.injects_500("stream-cut", n) for n in range(30))


def test_every_flipped_criterion_names_a_test_of_the_suite():
    """A typo in a criterion would make a cell that can never be observed."""
    from pathlib import Path

    tests = Path(__file__).resolve().parents[3] / "tests"
    for fault in faults.FAULTS:
        for name in fault.flips:
            suite, test = name.split("::")
            function = test.split("[")[0]
            assert f"def {function}(" in (tests / f"test_{suite}.py").read_text(), name


def test_usage_inflated_overstates_whole_and_streamed_usage_only():
    body = chat_message()
    body["usage"] = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    out = Rewriter("usage-inflated", chat=True).message(body)
    assert out["usage"] == {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
    assert out["choices"][0]["token_ids"] == [5, 6, 7]  # what was sent is untouched
    chunks, _ = stream("usage-inflated")
    assert chunks[-1]["usage"]["completion_tokens"] == 4
    assert [c["choices"][0].get("token_ids") for c in chunks[1:4]] == [[1], [2], [3]]


def test_greedy_jitter_changes_one_whole_answer_in_three():
    ids = [Rewriter("greedy-jitter", chat=True, request_number=n).message(chat_message())[
        "choices"][0]["token_ids"] for n in range(6)]
    assert ids.count([5, 6, 7]) == 4 and ids[2] == ids[5] == [5, 6, 6]


def test_forgetful_history_keeps_the_last_message_only():
    body = {"model": "m", "messages": [{"role": "user", "content": "I am Lin."},
                                       {"role": "assistant", "content": "Hello Lin."},
                                       {"role": "user", "content": "Who am I?"}]}
    assert faults.forgotten(body)["messages"] == [{"role": "user", "content": "Who am I?"}]
    assert faults.forgotten({"messages": body["messages"][:1]}) == {
        "messages": body["messages"][:1]}


def test_questions_shuffled_asks_each_request_the_question_before_it():
    shuffle = faults.Shuffler()
    asked = [shuffle({"model": "m", "reasoning_effort": "low", "messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": q}]})
        for q in ("capital of France?", "capital of Peru?", "capital of Chile?")]
    assert [b["messages"][-1]["content"] for b in asked] == [
        faults.STAND_IN, "capital of France?", "capital of Peru?"]
    assert all(b["messages"][0] == {"role": "system", "content": "be brief"} for b in asked)
    assert asked[0]["reasoning_effort"] == "low"
    assert shuffle({"prompt": "no messages"}) == {"prompt": "no messages"}


def test_prefix_cache_hits_reports_half_the_prompt_cached_and_nothing_else():
    body = chat_message()
    body["usage"] = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
    out = Rewriter("prefix-cache-hits", chat=True).message(body)
    assert out["usage"] == {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13,
                            "prompt_tokens_details": {"cached_tokens": 5}}
    assert out["choices"][0]["token_ids"] == [5, 6, 7]
    streamed = chat_chunks()
    streamed[-1]["usage"] = {"prompt_tokens": 9, "completion_tokens": 3}
    chunks, _ = stream("prefix-cache-hits", streamed)
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 4}
    assert content_of(chunks) == "Hi there."


def test_model_misnamed_renames_whole_and_streamed_answers_only():
    body = {**chat_message(), "model": "gpt-oss-canary"}
    out = Rewriter("model-misnamed", chat=True).message(body)
    assert out["model"] == faults.OTHER_MODEL
    assert out["choices"][0]["message"]["content"] == chat_message()["choices"][0]["message"][
        "content"]
    streamed = [{**c, "model": "gpt-oss-canary"} for c in chat_chunks()]
    chunks, _ = stream("model-misnamed", streamed)
    assert {c["model"] for c in chunks} == {faults.OTHER_MODEL}
    assert content_of(chunks) == "Hi there."


def test_every_acceptance_criterion_is_flipped_by_a_fault_or_says_why_not():
    import re
    from pathlib import Path

    tests = Path(__file__).resolve().parents[3] / "tests"
    criteria = {f"{path.stem.removeprefix('test_')}::{name}"
                for path in tests.glob("test_*.py") if path.name != "test_selfcheck.py"
                for name in re.findall(r"^def (test_\w+)\(", path.read_text(), re.MULTILINE)}
    flipped = {c.split("[")[0] for f in faults.FAULTS for c in f.flips}
    assert not flipped & set(faults.NOT_FLIPPED), flipped & set(faults.NOT_FLIPPED)
    assert criteria == flipped | set(faults.NOT_FLIPPED), (
        criteria ^ (flipped | set(faults.NOT_FLIPPED)))
    assert all(why.strip() for why in faults.NOT_FLIPPED.values())


def test_a_variant_fault_is_launched_and_names_a_features_variant():
    from pytest_ascend_oss import thresholds
    from pytest_ascend_oss.suites.features.rows import variant_flags

    limits = thresholds.load(None, "cpu-canary").values["features"]
    variants = [f for f in faults.FAULTS if f.variant]
    assert {f.variant for f in variants} == {"eager", "pp", "chunked_prefill"}
    for fault in variants:
        assert fault.launched and variant_flags(fault.variant, limits)
        assert all(c.startswith("features::") for c in fault.flips)
    assert variant_flags("pp", limits) == ["--pipeline-parallel-size", "2"]
    assert variant_flags("chunked_prefill", limits) == ["--max-num-batched-tokens", "512"]
    with pytest.raises(ValueError, match="no features variant 'tp2'"):
        variant_flags("tp2", limits)
