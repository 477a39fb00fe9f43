"""The CPU FP32 reference's memory check and the perplexity conversations."""

from __future__ import annotations

import json
import struct

import pytest

from pytest_ascend_oss.suites.precision import conversations
from pytest_ascend_oss.suites.precision import reference as fp32


def _safetensors_header(path, tensors: dict) -> None:
    """A safetensors file's header only: the memory check reads no weights."""
    header = json.dumps({name: {"dtype": dtype, "shape": shape, "data_offsets": [0, 0]}
                         for name, (dtype, shape) in tensors.items()}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header)


def test_gpt_oss_20b_in_float32_is_refused_on_a_small_host(tmp_path):
    """gpt-oss-20b's layout: MXFP4 expert blocks (two values per byte), scales, bf16 rest."""
    layers, experts, hidden, inter = 24, 32, 2880, 2880
    tensors = {"model.embed_tokens.weight": ("BF16", [201088, hidden]),
               "lm_head.weight": ("BF16", [201088, hidden])}
    for i in range(layers):
        p = f"model.layers.{i}."
        tensors[p + "mlp.experts.gate_up_proj_blocks"] = ("U8", [experts, 2 * inter, 90, 16])
        tensors[p + "mlp.experts.gate_up_proj_scales"] = ("U8", [experts, 2 * inter, 90])
        tensors[p + "mlp.experts.down_proj_blocks"] = ("U8", [experts, hidden, 90, 16])
        tensors[p + "mlp.experts.down_proj_scales"] = ("U8", [experts, hidden, 90])
        tensors[p + "self_attn.q_proj.weight"] = ("BF16", [4096, hidden])
        tensors[p + "self_attn.o_proj.weight"] = ("BF16", [hidden, 4096])
    _safetensors_header(tmp_path / "model-00001.safetensors", tensors)
    assert 20e9 < fp32.parameters(tmp_path) < 22e9
    with pytest.raises(fp32.ReferenceError) as info:
        fp32.check_memory(tmp_path, available=24 << 30)
    message = str(info.value)
    assert "needs about 8" in message and "GiB of host memory" in message  # ~84 GiB
    assert "24.0 GiB available" in message and "--record-baseline" in message
    assert fp32.check_memory(tmp_path, available=200 << 30) > 80 << 30


def test_a_directory_without_weights_is_refused(tmp_path):
    with pytest.raises(fp32.ReferenceError, match="no \\*.safetensors"):
        fp32.check_memory(tmp_path)


def test_the_canary_gets_its_own_conversations_and_others_the_shipped_ones():
    canary = conversations.load(None, conversations.CANARY_MODEL)
    assert canary["name"] == "gpt-oss-canary conversations"
    assert any(c["final"] == "The capital of France is Paris." for c in canary["conversations"])
    shipped = conversations.load(None, "openai/gpt-oss-20b")
    langs = {c["lang"] for c in shipped["conversations"]}
    assert langs == {"en", "zh"} and len(shipped["conversations"]) >= 16
    assert conversations.load("canary", "anything")["name"] == canary["name"]


def test_the_shipped_canary_corpus_is_the_canary_s_own_wording():
    """data/canary_conversations.json is facts.perplexity_conversations() written out: the
    suite reads the file (it does not import the embedded server), and the two cannot drift."""
    from pytest_ascend_oss.embedded.canary.facts import perplexity_conversations

    shipped = conversations.load(conversations.default_path(conversations.CANARY_MODEL), "m")
    assert shipped == perplexity_conversations()


def test_rendered_conversations_score_only_the_assistant():
    rendered = conversations.render(conversations.load("canary", "m"))
    first = rendered[0]
    from pytest_ascend_oss.gptoss import harmony

    scored = harmony.encoding().decode(first["ids"][first["score_from"]:])
    assert scored.startswith("<|channel|>analysis<|message|>")
    assert scored.endswith("The capital of France is Paris.<|return|>")
    assert conversations.sha256(rendered) == conversations.sha256(conversations.render(
        conversations.load("canary", "m")))


@pytest.mark.parametrize("content, message", [
    ("[]", "non-empty 'conversations' list"),
    ('{"conversations": []}', "non-empty 'conversations' list"),
    ('{"conversations": [{"id": "a", "analysis": "x", "final": ""}]}', "'final'"),
    ('{"conversations": [{"id": "a", "analysis": "x", "final": "y", "messages": []}]}',
     "'messages' must be"),
    (('{"conversations": [{"id": "a", "analysis": "x", "final": "y", "messages": '
     '[{"role": "assistant", "content": "z"}]}]}'), "'messages' must be"),
    (('{"conversations": [{"id": "a", "analysis": "x", "final": "y", "messages": '
     '[{"role": "user", "content": "z"}]}, {"id": "a", "analysis": "x", "final": "y", '
     '"messages": [{"role": "user", "content": "z"}]}]}'), "appears twice"),
    ("not json", "not UTF-8 JSON"),
])
def test_bad_corpus_files_are_refused_with_the_place(tmp_path, content, message):
    path = tmp_path / "corpus.json"
    path.write_text(content)
    with pytest.raises(conversations.CorpusError, match=message) as info:
        conversations.load(path, "m")
    assert str(path) in str(info.value)


def test_a_missing_corpus_is_named():
    with pytest.raises(conversations.CorpusError, match="not found"):
        conversations.load("/nonexistent/corpus.json", "m")
