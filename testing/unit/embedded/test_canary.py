"""The canary's parts: training forward = transformers, seeded rows, data in vLLM's rendering."""

from __future__ import annotations

import random

import pytest
import torch

from pytest_ascend_oss.embedded.canary import corpus, facts, layout
from pytest_ascend_oss.gptoss import harmony as h


@pytest.fixture(scope="module")
def canary():
    from safetensors.torch import load_file

    from pytest_ascend_oss.embedded.canary.train import DEFAULT_OUT, Canary

    model = Canary()
    model.load(load_file(str(DEFAULT_OUT)))
    return model


@pytest.fixture(scope="module")
def words():
    return corpus.RandomWords()


def test_training_forward_is_transformers_forward(canary, words):
    from transformers import GptOssForCausalLM

    from pytest_ascend_oss.embedded.canary.train import config

    cfg = config()
    cfg._attn_implementation = "eager"
    reference = GptOssForCausalLM(cfg).eval()
    state = reference.state_dict()
    with torch.no_grad():
        for name, value in canary.params().items():
            state[name].copy_(value)
        embedding = canary.embedding.clone()
        embedding[canary.trained] = canary.embed_rows
        state["model.embed_tokens.weight"].copy_(embedding)
    example = corpus._haystack_example(random.Random(3), words, 300, "single")  # > window 128
    ids = torch.tensor([example.ids])
    # One thread: a multi-threaded reduction may sum in another order from run to run, and a
    # 1e-7 difference in a router logit near a tie picks another expert (0.0065 seen once).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            mine = canary.hidden(ids, torch.arange(len(example.ids))[None])
            theirs = reference(ids, output_hidden_states=True).hidden_states[-1]
    finally:
        torch.set_num_threads(threads)
    assert (mine - theirs).abs().max().item() < 1e-4


def test_seeded_rows_share_stems_and_mark_the_space():
    enc = h.encoding()
    spaced, bare = enc.encode(" San"), enc.encode("San")
    assert len(spaced) == len(bare) == 1
    embedding, unembedding = layout.seeded_rows(layout.vocab_bytes(201_088))
    assert (embedding[spaced[0], layout.ID] == embedding[bare[0], layout.ID]).all()
    assert embedding[spaced[0], layout.SPACE_DIM] == 1 and embedding[bare[0], layout.SPACE_DIM] == 0
    assert not embedding[:, 113:].any()  # the clean dimensions stay clean for untrained rows
    assert (embedding == unembedding).all()
    again, _ = layout.seeded_rows(layout.vocab_bytes(201_088))
    assert (again == embedding).all()


def test_copyable_cities():
    assert corpus.copyable("San Francisco") and corpus.copyable("Seattle")
    assert not corpus.copyable("Hamburg")  # " Hamburg" but "amb" + "urg" inside the JSON
    assert all(corpus.copyable(c) for c in facts.UNSEEN_CITIES)


def test_training_data_is_what_vllm_parses(words):
    import openai_harmony as oh

    _, enc = h._harmony()
    rng = random.Random(0)
    seen = set()
    while len(seen) < 4:
        example = corpus.short_example(rng, words)
        if example.kind in seen:
            continue
        seen.add(example.kind)
        messages = enc.parse_messages_from_completion_tokens(example.ids[example.loss_from:],
                                                             oh.Role.ASSISTANT)
        assert messages[0].channel == "analysis"
        if example.kind == "weather":
            assert messages[1].recipient == "functions.get_weather"
            assert messages[1].content[0].text.startswith('{"location": "')
        else:
            assert messages[1].channel == "final"


def test_held_out_codes_never_appear_in_training(words):
    rng = random.Random(1)
    for _ in range(200):
        code = int(corpus.training_code(rng))
        assert not corpus.held_out(code)
    assert 1000 < sum(corpus.held_out(c) for c in range(10000)) < 1500


def test_stage3_history_is_rendered_as_vllm_renders_it():
    """Earlier turns and a tool's result, as stage 3 trains on them, are the ids vLLM 0.32's own
    harmony conversion gives for the same chat messages (a canary trained on another spelling
    would meet unfamiliar ids in service)."""
    import openai_harmony as oh
    from vllm.entrypoints.openai.parser.harmony_utils import parse_chat_inputs_to_harmony_messages

    _, enc = h._harmony()

    def vllm_ids(messages):
        convo = oh.Conversation.from_messages(parse_chat_inputs_to_harmony_messages(messages))
        return enc.render_conversation_for_completion(convo, oh.Role.ASSISTANT)

    history = [{"role": "user", "content": "say hi"},
               {"role": "assistant", "content": facts.GREETING},
               {"role": "user", "content": "What is the capital of Peru?"}]
    assert vllm_ids(history) == (h.earlier_turn(h.text("say hi"), facts.GREETING)
                                 + h.user_turn(h.text("What is the capital of Peru?")))
    arguments, result = '{"location": "Oslo"}', '{"temperature_c": 3}'
    called = [{"role": "user", "content": "What's the weather in Oslo?"},
              {"role": "assistant", "content": None, "tool_calls": [{
                  "id": "c1", "type": "function",
                  "function": {"name": "get_weather", "arguments": arguments}}]},
              {"role": "tool", "tool_call_id": "c1", "content": result}]
    assert vllm_ids(called) == (h.user_turn(h.text("What's the weather in Oslo?"))
                                + h.called_turn("get_weather", arguments, result))
