"""The canary's parts: training forward = transformers, seeded rows, data in vLLM's rendering."""

from __future__ import annotations

import dataclasses
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


def test_blind_cities_are_apart_from_every_city_that_chose_a_canary():
    """The capability report's second set must be copyable and share no city with those that
    chose stage 10 (UNSEEN_CITIES, the features suite's weather cases)."""
    from pytest_ascend_oss.suites.features.tool_calling import load_cases

    suite = {c.expect["location"] for c in load_cases(["get_weather"])}
    assert all(corpus.copyable(c) for c in facts.BLIND_CITIES)
    assert not set(facts.BLIND_CITIES) & (set(facts.UNSEEN_CITIES) | suite)


def test_joined_cities_have_the_unseen_shape_but_none_of_their_words(words):
    """Stage 10's cities joined by lowercase words ("Rio de Janeiro"'s shape): copyable, a
    lowercase word between capitalized ones, and neither an unseen city's words nor its joiner
    " de", so the capability report's unseen cities stay unseen."""
    rng = random.Random(3)
    unseen = {w for city in facts.UNSEEN_CITIES for w in city.split()}
    for _ in range(200):
        city = words.joined_city(rng)
        parts = city.split()
        assert corpus.copyable(city)
        assert parts[0][0].isupper() and parts[-1][0].isupper() and parts[1].islower()
        assert not set(parts) & unseen, city
        assert "de" not in parts


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


def test_log_copies_is_attention_over_that_many_copies(canary):
    """A stretched haystack's filler token weighs in the full-attention layer exactly what m
    copies of it (same position, same state) weigh: ln(m) on the key's score."""
    from pytest_ascend_oss.embedded.canary.forward import attention, rope_tables

    torch.manual_seed(0)
    p = canary.params()
    prefix = "model.layers.1.self_attn."
    x = torch.randn(1, 6, 128)
    copies = [1, 3, 1, 5, 1, 1]   # the last token asks; tokens 1 and 3 stand for 3 and 5
    expanded = torch.cat([x[:, i:i + 1].expand(1, m, 128) for i, m in enumerate(copies)], dim=1)
    positions = torch.tensor([[i for i, m in enumerate(copies) for _ in range(m)]])

    def rope(pos):
        return rope_tables(pos, canary.inv_freq, canary.attention_scaling)

    with torch.no_grad():
        weighted = attention(p, prefix, x, *rope(torch.arange(6)[None]), None,
                             key_bias=torch.tensor([copies], dtype=torch.float).log())
        repeated = attention(p, prefix, expanded, *rope(positions), None)
    assert torch.allclose(weighted[0, -1], repeated[0, -1], atol=1e-5)
    with torch.no_grad():
        plain = attention(p, prefix, x, *rope(torch.arange(6)[None]), None)
    assert not torch.allclose(plain[0, -1], repeated[0, -1], atol=1e-3)


def test_stretched_haystack_counts_its_filler_not_its_needle(words):
    recipe = corpus.HaystackRecipe(stretched=1.0)
    rng = random.Random(5)
    example = corpus._haystack_example(rng, words, 1024, "single", recipe)
    assert example.kind == "single-long" and len(example.copies) == len(example.ids)
    stretch = max(example.copies)
    assert stretch in corpus.STRETCHES
    needle = h.text(" " + facts.NEEDLE.format(code="0000"))[:4]   # " The secret code is"
    at = next(i for i in range(len(example.ids)) if example.ids[i:i + 4] == needle)
    assert example.copies[at:at + 4] == [1, 1, 1, 1]
    assert example.copies[example.loss_from:] == [1] * (len(example.ids) - example.loss_from)
    # positions advance by each token's copies: the question sits where the long context ends
    steps = [b - a for a, b in zip(example.positions, example.positions[1:])]
    assert steps == example.copies[:-1]
    assert example.positions[-1] > 0.9 * stretch * 1000


def test_varied_tool_definitions_render_as_vllm_renders_them(words):
    """The developer message of every kind of drawn definition (no description, extra and
    reordered parameters, companion tools) is vLLM 0.32's for the same ``tools`` list."""
    import openai_harmony as oh
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionToolsParam
    from vllm.entrypoints.openai.parser.harmony_utils import get_developer_message

    from pytest_ascend_oss.embedded.canary import tool_definitions

    _, enc = h._harmony()
    rng = random.Random(11)
    drawn = [(tool_definitions.training_tools(rng, words), tool_definitions.PARAM)
             for _ in range(40)]
    drawn += tool_definitions.held_out_definitions()
    assert any("description" not in f for fs, _ in drawn for f in fs)
    assert any(len(fs) == 4 for fs, _ in drawn)
    for functions, param in drawn:
        tools = [ChatCompletionToolsParam(type="function", function=f) for f in functions]
        theirs = enc.render_conversation(oh.Conversation.from_messages(
            [get_developer_message(tools=tools)]))
        mine = list(h.preamble_for("2026-01-01", None, functions))
        developer = h.text("<|start|>developer")
        at = next(i for i in range(len(mine)) if mine[i:i + 2] == developer)
        assert mine[at:] == theirs
        assert param in functions[[f["name"] for f in functions].index("get_weather")][
            "parameters"]["required"]


def test_weather_parameters_are_spelt_alike_in_schema_and_call():
    """A token-copying canary can only write a parameter name spelt with the same tokens in
    the developer message's schema and in the call's JSON; held-out names too."""
    from pytest_ascend_oss.embedded.canary import tool_definitions

    enc = h.encoding()
    for param in (tool_definitions.PARAM,) + tool_definitions.RENAMED_PARAMS:
        schema = [enc.decode([i]) for i in enc.encode(f" {{\n{param}: string")]
        call = [enc.decode([i]) for i in enc.encode(tool_definitions.call_arguments(param, "Oslo"))]
        schema, call = schema[1:schema.index(":")], call[1:call.index('":')]
        assert schema == call, (param, schema, call)


def test_held_out_tool_definitions_are_never_drawn(words):
    from pytest_ascend_oss.embedded.canary import tool_definitions

    held = tool_definitions.held_out_definitions()
    held_descriptions = {f.get("description") for fs, _ in held for f in fs
                         if f["name"] == "get_weather"} - {None}
    assert len(held_descriptions) == 4
    renamed = tool_definitions.renamed_definitions()
    assert [p for _, p in renamed] == list(tool_definitions.RENAMED_PARAMS)
    for functions, param in renamed:
        weather = next(f for f in functions if f["name"] == "get_weather")
        assert weather["parameters"]["required"] == [param] != ["location"]
    rng = random.Random(2)
    for _ in range(3000):
        functions = tool_definitions.training_tools(rng, words)
        names = {f["name"] for f in functions}
        assert not names & {"convert_currency", "create_calendar_event"}
        weather = next(f for f in functions if f["name"] == "get_weather")
        assert weather.get("description") not in held_descriptions
        assert weather["parameters"]["required"] == [tool_definitions.PARAM]



class _FixedLogits:
    """A stand-in for train.Canary whose logits over ids 10-13 are set by hand; ``trained``
    says which of them are scored whatever the examples hold."""

    def __init__(self, logits, trained=(10, 11, 12, 13)):
        self.logits = torch.tensor(logits)
        self.trained = torch.tensor(trained)
        self.row_of = torch.full((14,), -1)    # a vocabulary of 14 ids; 0-9 score 0

    def hidden(self, ids, positions, log_copies=None):
        return self.logits[None]

    def unembed(self, candidates):
        return torch.eye(14)[candidates][:, 10:]


def test_margin_hinge_adds_what_each_answer_token_lacks():
    """The gap is an answer token's logit minus its best rival's; ``margin`` adds
    mean(relu(margin - gap)) over the answer tokens; an example is right when every gap is
    positive, and reports its thinnest gap."""
    from pytest_ascend_oss.embedded.canary.train import loss_and_accuracy

    # Predicting 11 after 10 leads 12 by 0.5; predicting 12 after 11 leads by 3.0.
    model = _FixedLogits([[0.0, 2.0, 1.5, 0.0], [0.0, 0.0, 3.0, 0.0], [0.0] * 4])
    example = [corpus.Example([10, 11, 12], [0, 1, 2], 1, "t")]
    gen = torch.Generator()
    plain, per = loss_and_accuracy(model, example, 0, gen)
    hinged, _ = loss_and_accuracy(model, example, 0, gen, margin=1.0)
    assert per == [("t", True, pytest.approx(0.5))]
    assert float(hinged - plain) == pytest.approx(0.25)   # (0.5 + 0) / 2 tokens
    wide, _ = loss_and_accuracy(model, example, 0, gen, margin=0.4)
    assert float(wide) == pytest.approx(float(plain))      # every gap above the margin: free
    wrong = _FixedLogits([[0.0, 1.0, 1.5, 0.0], [0.0, 0.0, 3.0, 0.0], [0.0] * 4])
    _, per_wrong = loss_and_accuracy(wrong, example, 0, gen)
    assert per_wrong == [("t", False, pytest.approx(-0.5))]


def test_context_rivals_score_the_tokens_the_question_holds():
    """A rival found only in the context (13, untrained, as a question's token is) leads the
    answer: random rows miss it and call the example right; with ``context_rivals`` it is
    scored, the example is wrong, and its gap is the true one."""
    from pytest_ascend_oss.embedded.canary.train import loss_and_accuracy

    # After 10 the answer 11 leads the trained 12 by 0.5 but trails the context's 13 by 0.5.
    model = _FixedLogits([[0.0] * 4, [0.0, 2.0, 1.5, 2.5], [0.0, 0.0, 3.0, 0.0], [0.0] * 4],
                         trained=(10, 11, 12))
    example = [corpus.Example([13, 10, 11, 12], [0, 1, 2, 3], 2, "t")]
    gen = torch.Generator()
    _, blind = loss_and_accuracy(model, example, 0, gen)
    _, seen = loss_and_accuracy(model, example, 0, gen, context_rivals=True)
    assert blind == [("t", True, pytest.approx(0.5))]
    assert seen == [("t", False, pytest.approx(-0.5))]


def test_hard_rivals_score_the_rows_no_sample_draws():
    """A rival that is neither trained, nor an answer, nor in the context (13, as an untrained
    twin like "club" for " club" is) leads the answer: the sampled softmax calls the example
    right; with ``hard_rivals`` the answer positions are scored against the whole vocabulary,
    13 becomes a candidate, the example is wrong and its gap is the true one."""
    from pytest_ascend_oss.embedded.canary.train import loss_and_accuracy

    model = _FixedLogits([[0.0, 2.0, 1.5, 2.5], [0.0, 0.0, 3.0, 0.0], [0.0] * 4],
                         trained=(10, 11, 12))
    example = [corpus.Example([10, 11, 12], [0, 1, 2], 1, "t")]
    gen = torch.Generator()
    _, blind = loss_and_accuracy(model, example, 0, gen, context_rivals=True)
    _, hard = loss_and_accuracy(model, example, 0, gen, context_rivals=True, hard_rivals=2)
    assert blind == [("t", True, pytest.approx(0.5))]
    assert hard == [("t", False, pytest.approx(-0.5))]


def test_client_questions_hold_out_the_precision_prompts():
    """The fallback's client-worded requests never include a prompt the precision suite
    asks: its gate must stay able to fail a canary, so the canary is not trained on them."""
    import json
    import random

    from pytest_ascend_oss.embedded.canary import questions
    from pytest_ascend_oss.suites.precision import prompts

    path = prompts.default_prompts_path()
    asked = {m["content"].strip() for p in json.loads(path.read_text())["prompts"]
             for m in p["messages"] if m["role"] == "user"}
    rng = random.Random(0)
    drawn = {questions.client_question(rng, ["alpha", "beta"], ["甲", "乙"])
             for _ in range(20_000)}
    assert len(drawn) > 5_000    # varied, not a handful learnt by heart
    assert not drawn & asked
    assert any("\u4e00" <= c <= "\u9fff" for q in drawn for c in q)   # Chinese ones too


def test_stage6_questions_get_the_fallback_answer():
    """STAGE6_SETTLE's "question" chats are a client's request answered with the fallback."""
    import random

    from pytest_ascend_oss.embedded.canary import facts
    from pytest_ascend_oss.gptoss import harmony as h

    rng, words = random.Random(3), corpus.RandomWords()
    questions_seen = 0
    for _ in range(200):
        e = corpus.short_example(rng, words, corpus.STAGE6_SETTLE)
        if e.kind.split("+")[0].split("~")[0] == "question":
            questions_seen += 1
            assert e.ids[e.loss_from:] == h.answer(facts.FALLBACK_ANALYSIS, facts.FALLBACK)
    assert questions_seen > 30


@pytest.mark.parametrize(("flags", "expected"), [
    ([], "STAGE1"), (["--stage2"], "STAGE2"), (["--stage3"], "STAGE3"),
    (["--stage2", "--stage3-settle"], "STAGE3_SETTLE"),
    (["--stage5-settle", "--stage3"], "STAGE5_SETTLE"),   # the latest stage given wins
    (["--stage6-settle"], "STAGE6_SETTLE"), (["--stage6-settle", "--stage7"], "STAGE7"),
    (["--stage9"], "STAGE9"), (["--stage9-settle"], "STAGE9_SETTLE"), (["--stage10"], "STAGE10"),
])
def test_recipe_flags_pick_the_latest_stage(monkeypatch, flags, expected):
    from pytest_ascend_oss.embedded.canary import train

    picked = []
    monkeypatch.setattr(train, "train", lambda *args: picked.append(args[8]))
    train.main(flags + ["--stretched", "0.25"])
    assert picked[0] == dataclasses.replace(getattr(corpus, expected), stretched=0.25)


def test_greedy_leads_are_the_shipped_answer_and_its_margins(canary):
    """leads.greedy_leads decodes float32 greedy over the whole vocabulary and reports each
    token's lead over the runner-up: the shipped canary answers a capital exactly, every lead
    positive; a lead is the top-two difference of that step's logits."""
    from pytest_ascend_oss.embedded.canary import leads
    from pytest_ascend_oss.suites.precision import prompts

    ids = prompts.render([{"role": "user", "content": "What is the capital of France?"}])
    tokens, margins = leads.greedy_leads(canary, ids, 14)
    assert h.encoding().decode(tokens).startswith(
        "<|channel|>analysis<|message|>The capital of France is Paris.<|end|>")
    assert len(margins) == len(tokens) and min(margins) > 0
    with torch.no_grad():
        hidden = canary.hidden(torch.tensor([ids]), torch.arange(len(ids))[None])
        logits = hidden[0, -1] @ canary.unembed(torch.arange(canary.row_of.numel())).T
    first, second = logits.topk(2).values.tolist()
    assert int(logits.argmax()) == tokens[0]
    assert margins[0] == pytest.approx(first - second, abs=1e-4)


def test_a_stored_canary_loads_into_a_build_that_trains_more_rows(canary):
    """Stage 7 added structural tokens (the currency and calendar calls'): a canary stored
    before keeps its rows, by id; one that trains a row this build does not is refused."""
    state = canary.state_to_save()
    keep = torch.arange(len(canary.trained)) % 7 != 0     # an older build's smaller set
    older = dict(state, **{"canary.trained_ids": state["canary.trained_ids"][keep],
                           "canary.embed_rows": state["canary.embed_rows"][keep] + 1.0,
                           "canary.unembed_rows": state["canary.unembed_rows"][keep]})
    before = canary.embed_rows.detach().clone()
    canary.load(older)
    assert torch.equal(canary.embed_rows[keep], before[keep] + 1.0)
    assert torch.equal(canary.embed_rows[~keep], before[~keep])
    canary.load(state)
    alien = dict(state, **{"canary.trained_ids": torch.cat([state["canary.trained_ids"][:-1],
                                                            torch.tensor([199_990])])})
    with pytest.raises(ValueError, match="199990"):
        canary.load(alien)
    canary.load(state)
