"""Serving-stack hidden states: the pooling twin's command, the sampled positions, the baseline
encoding, the comparison and its gates (not measured is never a pass)."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from pytest_ascend_oss.suites.precision import hidden, run


def test_pooling_twin_is_the_same_command_with_pooling_flags():
    argv = ["vllm", "serve", "/m", "--dtype", "bfloat16", "--port", "8000",
            "--reasoning-parser", "openai_gptoss", "--tool-call-parser=openai",
            "--enable-auto-tool-choice", "--runner", "generate", "-tp", "2"]
    twin = hidden.pooling_argv(argv)
    assert twin[:5] == ["vllm", "serve", "/m", "--dtype", "bfloat16"]
    assert "-tp" in twin and "2" in twin  # the deployment's own parallelism stays
    for gone in ("--port", "8000", "--reasoning-parser", "--tool-call-parser=openai",
                 "--enable-auto-tool-choice", "generate"):
        assert gone not in twin
    assert twin[-6:] == hidden.pooling_flags()
    config = json.loads(twin[twin.index("--pooler-config") + 1])
    assert config == {"task": "token_embed", "tok_pooling_type": "ALL", "use_activation": False}


@pytest.mark.parametrize(("version", "has_task"), [
    ("0.18.0", False), ("0.18.1", False), ("0.18.0+empty", False),  # vllm-ascend 0.18's vLLM
    ("0.19.0", True), ("0.23.0", True), ("0.32.0", True),
    (None, True), ("0.1.dev2922+gbb3f938cb", True),  # unknown, a tagless build: the newest
])
def test_pooling_twin_sends_the_task_key_only_to_a_vllm_that_accepts_it(version, has_task):
    """vLLM 0.18's PoolerConfig has no 'task' and forbids unknown keys: the twin would exit at
    argument parsing, and the guide's hidden-state criterion would never be measured."""
    from pytest_ascend_oss.server.stack import ServingVersion

    twin = hidden.pooling_argv(["vllm", "serve", "/m"], ServingVersion(version, "test"))
    config = json.loads(twin[twin.index("--pooler-config") + 1])
    assert ("task" in config) is has_task
    assert config["tok_pooling_type"] == "ALL" and config["use_activation"] is False


@pytest.mark.parametrize("length", [1, 10, 64, 65, 330, 4096])
def test_sampled_positions_span_the_sequence(length):
    positions = hidden.sample_positions(length)
    assert positions[0] == 0 and positions[-1] == length - 1
    assert positions == sorted(set(positions))
    assert len(positions) == min(length, hidden.POSITIONS_PER_SEQUENCE)


def test_encoding_round_trip_keeps_cosine_and_stays_small():
    rng = np.random.default_rng(0)
    states = rng.normal(size=(64, 2880)).astype(np.float32) * 3
    entry = {"positions": list(range(64)), "states": states}
    back = hidden.decode(hidden.encode([entry]))[0]
    assert back["positions"] == entry["positions"]
    cos = hidden.cosine_per_token(states, back["states"])
    assert cos.min() > 0.999999
    # 57 prompts x 64 positions of gpt-oss-20b's width: the budget of a baseline file
    one = len(json.dumps(hidden.encode([entry])))
    assert one * 57 < 32e6


def test_float16_overflow_is_refused():
    with pytest.raises(hidden.HiddenStateError, match="float16"):
        hidden.encode([{"positions": [0], "states": np.array([[1e6, 0.0]])}])


def _entries(rng, n, noise):
    out = []
    for _ in range(n):
        states = rng.normal(size=(8, 16))
        out.append({"positions": list(range(8)), "states": states,
                    "noisy": states + noise * rng.normal(size=states.shape)})
    return out


def test_compare_reports_mean_worst_prompt_and_worst_token():
    rng = np.random.default_rng(1)
    entries = _entries(rng, 3, 0.0)
    tested = [{"positions": e["positions"], "states": e["states"].copy()} for e in entries]
    tested[1]["states"][5] = -tested[1]["states"][5]  # one token reversed in prompt b
    result = hidden.compare([{"positions": e["positions"], "states": e["states"]}
                             for e in entries], tested, ["a", "b", "c"], "ref")
    assert result["tokens"] == 24 and result["source"] == "ref"
    assert result["min"] == pytest.approx(-1.0)
    assert result["worst"][0]["id"] == "b" and result["worst"][0]["min_position"] == 5
    assert result["worst_prompt_mean"] == pytest.approx(6 / 8)
    assert result["mean"] == pytest.approx(22 / 24)


def test_compare_refuses_other_positions():
    a = {"positions": [0, 1], "states": np.ones((2, 4))}
    b = {"positions": [0, 2], "states": np.ones((2, 4))}
    with pytest.raises(hidden.HiddenStateError, match="sampled positions"):
        hidden.compare([a], [b], ["p"], "ref")


def _pooling_server(answer):
    def handler(request: httpx.Request) -> httpx.Response:
        return answer(json.loads(request.content))
    return httpx.Client(base_url="http://twin", transport=httpx.MockTransport(handler))


def test_fetch_reads_per_token_states():
    http = _pooling_server(lambda body: httpx.Response(200, json={"data": [{"data": [
        [float(t), 1.0] for t in body["input"]]}]}))
    states = hidden.fetch(http, "m", [3, 4, 5])
    assert states.shape == (3, 2) and states[2, 0] == 5.0


def test_fetch_from_a_generative_server_names_the_remedy():
    http = _pooling_server(lambda body: httpx.Response(404, json={"detail": "Not Found"}))
    with pytest.raises(hidden.HiddenStateError) as info:
        hidden.fetch(http, "m", [1, 2])
    message = str(info.value)
    assert "404" in message and "--runner pooling --convert embed" in message
    assert "not a pooling twin" in message


def test_fetch_refuses_a_pooled_vector():
    """A sequence-pooled embedding (one vector) is not per-token hidden states."""
    http = _pooling_server(lambda body: httpx.Response(200, json={"data": [{"data": [1.0, 2.0]}]}))
    with pytest.raises(hidden.HiddenStateError, match="not per-token"):
        hidden.fetch(http, "m", [1, 2])


LIMITS = {"token_match_min": 0.95, "rouge_l_min": 0.98, "perplexity_rel_diff_max": 0.02,
          "hidden_cosine_min": 0.99, "hidden_cosine_prompt_min": 0.98}
RESULT = {"token_match_rate": 1.0, "rouge_l": 1.0, "perplexity_rel_diff": 0.001,
          "perplexity_nll_diff_nats": 0.001, "perplexity_tokens": 10}


def test_unmeasured_hidden_states_never_pass():
    reason = "not measured: this server's pooling twin was not given (--pooling-url URL)"
    gates = run.gates({**RESULT, "hidden_state": {"not_measured": reason}}, LIMITS, str)
    for name in ("hidden_cosine", "hidden_cosine_prompt"):
        assert not gates[name].passed and gates[name].status == "NOT MEASURED"
        assert "--pooling-url" in gates[name].message()
    assert gates["token_match"].passed


def test_hidden_state_gates_judge_the_mean_and_the_worst_prompt():
    measured = {"mean": 0.995, "worst_prompt_mean": 0.97, "min": 0.8}
    gates = run.gates({**RESULT, "hidden_state": measured}, LIMITS, str)
    assert gates["hidden_cosine"].passed
    assert not gates["hidden_cosine_prompt"].passed


def test_no_hidden_states_in_a_baseline_is_not_measured(tmp_path):
    reference = {"prompts": [{"id": "a", "prompt_ids": [1], "generated_ids": [2]}]}
    out = run._hidden_state(reference, "http://twin", None, "m", tmp_path / "b.json", print)
    assert "holds no hidden states" in out["not_measured"]
    assert "record-reference" in out["not_measured"]
    out = run._hidden_state({**reference, "hidden_states": {"entries": []}}, None, None, "m",
                            None, print, "the pooling twin did not start: boom")
    assert "did not start: boom" in out["not_measured"]


def test_the_cpu_fp32_reference_is_shown_beside_the_gate_and_judges_nothing():
    from pytest_ascend_oss.suites.precision import report

    measured = {"mean": 0.995, "worst_prompt_mean": 0.99, "min": 0.8, "source": "gpu twin",
                "tokens": 100}
    result = {**RESULT, "n_prompts": 3, "rouge_l_min": 1.0, "mean_prefix_fraction": 1.0,
              "teacher_forced_top1": 1.0, "teacher_forced_kl_mean": 0.0,
              "perplexity_reference": 2.0, "perplexity_candidate": 2.002,
              "hidden_state": measured,
              "beside": {**RESULT, "token_match_rate": 0.5, "rouge_l": 0.7,
                         "reference": "ref.json.gz", "device": "cpu-fp32-transformers",
                         "hidden_state": {"not_measured": "no twin"}}}
    gates = run.gates(result, LIMITS, str)
    table = report.markdown_table(result, gates, "baseline gpu.json.gz")
    assert "vs cpu-fp32-transformers (ref.json.gz, not gated)" in table
    assert "| Token Match Rate | 100.0% | 50.0% |" in table
    assert "| Cosine Similarity (mean) | 0.99500 | - |" in table
    assert table.count("✅ PASS") == 5  # the second reference changes no verdict


def test_the_text_users_read_is_checked_against_the_ids_judged():
    generated = [{"id": "a", "generated_ids": [1, 2], "text": "one two"},
                 {"id": "b", "generated_ids": [3], "text": "three"}]
    said = {(1, 2): "one two", (3,): "three"}
    ok = run.text_agreement(generated, "completions", lambda ids: said[tuple(ids)])
    assert ok["share"] == 1.0 and ok["differing"] == []
    said[(3,)] = "tree"  # a gateway that rewrites the text but not the ids
    bad = run.text_agreement(generated, "completions", lambda ids: said[tuple(ids)])
    assert bad["share"] == 0.5 and bad["differing"] == [
        {"id": "b", "text": "three", "ids_say": "tree"}]
    gates = run.gates({**RESULT, "text_ids": bad}, LIMITS, str)
    assert not gates["text_ids"].passed and gates["text_ids"].bound == 1.0
    chat = run.text_agreement(generated, "chat", lambda ids: "")
    assert "text_ids" not in run.gates({**RESULT, "text_ids": chat}, LIMITS, str)


def test_visible_text_skips_specials_and_a_cut_character():
    from pytest_ascend_oss.gptoss import harmony

    ids = harmony.text("<|channel|>final<|message|>巴黎<|return|>")
    assert harmony.visible_text(ids) == "final巴黎"
    split = harmony.text("龘")  # one character, two byte-level tokens
    assert len(split) == 2
    # an answer truncated between them: the half character is held back, not a "\ufffd"
    assert harmony.visible_text(harmony.text("final ") + split[:1]) == "final "
