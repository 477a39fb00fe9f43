"""The value-lookup layer (canary/lookup.py): its labels, its wiring, and older canaries."""

from __future__ import annotations

import random

import pytest
import torch

from pytest_ascend_oss.embedded.canary import lookup
from pytest_ascend_oss.embedded.canary import tool_requests as tr
from pytest_ascend_oss.gptoss import harmony as h


@pytest.fixture(scope="module")
def canary():
    from safetensors.torch import load_file

    from pytest_ascend_oss.embedded.canary.train import DEFAULT_OUT, Canary

    model = Canary()
    model.load(load_file(str(DEFAULT_OUT)))
    return model


def _request() -> tr.Request:
    arguments = {"title": "Piano lesson", "start": {"date": "2026-12-12", "time": "17:30"},
                 "attendees": ["Laura", "Mark"]}
    return tr.Request("create_calendar_event", "Could you set up 'Piano lesson' at 17:30 on "
                      "2026-12-12 with Laura and Mark?", arguments, tr.compact(arguments))


def test_labels_pair_each_asked_value_with_its_first_token_in_the_question():
    """The head is fitted to attend, from the token before a value in the call, to where that
    value starts in the question: the labels must say exactly that, for every slot looked up
    (attendees after the first are layer 1's induction, not looked up)."""
    ids, found, question = lookup.labelled(_request(), random.Random(0))
    enc = h.encoding()
    assert set(found) == {"title", "start.date", "start.time", "attendees[0]"}
    for qi, kj, token in found.values():
        assert kj in question and qi >= question.stop   # looked up from the call
        assert ids[qi + 1] == token                     # the call's next token is the value's
        assert enc.decode([ids[kj]]).lstrip(" ") == enc.decode([token])


def test_currency_codes_are_told_apart_by_where_they_stand():
    """"How many USD would 65 GBP buy?": the target code comes first in the question; the
    labels follow the call's slots, not the order of the words."""
    r = tr.currency_request(random.Random(0))
    r = tr.Request(r.tool, "How many USD would 65 GBP buy?",
                   {"amount": 65, "from_currency": "GBP", "to_currency": "USD"},
                   '{"amount":65,"from_currency":"GBP","to_currency":"USD"}')
    ids, found, _ = lookup.labelled(r, random.Random(0))
    enc = h.encoding()
    assert enc.decode([ids[found["from_currency"][1]]]) == " GBP"
    assert enc.decode([ids[found["to_currency"][1]]]) == " USD"
    assert enc.decode([ids[found["amount"][1]]]) == "65"


def test_a_two_layer_canary_loads_with_the_new_layer_silent(canary):
    """Stage 6 and before were stored with two layers: loaded into the three-layer build, the
    third layer adds nothing (circuit.silence), so the model computes what was stored; a
    stored canary missing any other weight is refused."""
    from pytest_ascend_oss.embedded.canary.forward import residual_stream, rms_norm
    from pytest_ascend_oss.embedded.canary.train import LAYER_WINDOWS, Canary, added_layer

    state = canary.state_to_save()
    older = {k: v for k, v in state.items() if not added_layer(k)}
    assert len(older) < len(state)
    model = Canary()
    model.load(older)
    ids = torch.tensor([h.user_turn(h.text("Convert 250 EUR to USD."))])
    positions = torch.arange(ids.shape[1])[None]
    with torch.no_grad():
        p = model.params()
        two = rms_norm(residual_stream(p, model.embed(ids), positions, model.inv_freq,
                                       model.attention_scaling, LAYER_WINDOWS[:2]),
                       p["model.norm.weight"])
        assert torch.equal(model.hidden(ids, positions), two)
    broken = dict(older)
    del broken["model.layers.1.self_attn.sinks"]
    with pytest.raises(ValueError, match="model.layers.1.self_attn.sinks"):
        Canary().load(broken)


def test_the_fitted_head_attends_where_a_value_is_asked_and_rests_elsewhere():
    """The fit's objective on a toy: two sequences whose layer-2 input marks one query and one
    key by a feature; after fitting, the query's attention is on the key and every other
    position's is on the sink."""
    from pytest_ascend_oss.embedded.canary.train import config, rope

    torch.manual_seed(0)
    inv_freq, scaling = rope(config())
    sequences = []
    for _ in range(8):
        x = torch.randn(40, 128) * 0.1
        qi, kj = int(torch.randint(20, 40, ())), int(torch.randint(0, 15, ()))
        x[qi, 120] = 3.0    # "a value is asked here"
        x[kj, 121] = 3.0    # "a value starts here"
        sequences.append((x, {qi: (0, kj)}))
    head = lookup._fit_head(inv_freq, scaling, sequences, steps=400, log=lambda m: None)
    with torch.no_grad():
        for x, asked in sequences:
            probs = torch.softmax(head.scores(x), dim=-1)
            (qi, (_, kj)), = asked.items()
            assert probs[qi, kj] > 0.9
            rest = [i for i in range(len(x)) if i != qi]
            sink = probs[rest, -1]
            assert sink.min() > 0.5 and sink.mean() > 0.9


def test_the_served_depth_is_the_stored_canarys(tmp_path):
    """model.arch() builds as many layers as the stored canary has: the shipped two-layer
    canary is served with two, a canary trained with the lookup layer with three."""
    from safetensors.torch import save_file

    from pytest_ascend_oss.embedded import model

    assert model.arch()["num_hidden_layers"] == model.stored_layers(model.CANARY_WEIGHTS)
    three = {f"model.layers.{i}.self_attn.sinks": torch.zeros(2) for i in range(3)}
    save_file({**three, "model.norm.weight": torch.ones(128)}, str(tmp_path / "c.safetensors"))
    assert model.stored_layers(tmp_path / "c.safetensors") == 3
