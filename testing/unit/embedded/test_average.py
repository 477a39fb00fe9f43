"""average.py: the weighted mean of stored canaries, refused where it would mix tokens' rows."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from pytest_ascend_oss.embedded.canary import average


def _state(value: float, ids=(5, 7)) -> dict:
    return {"canary.trained_ids": torch.tensor(ids),
            "canary.embed_rows": torch.full((2, 3), value),
            "model.layers.0.mlp.bias": torch.full((4,), value, dtype=torch.bfloat16)}


def test_the_cli_writes_the_weighted_mean_and_keeps_the_ids(tmp_path, capsys):
    a, b, out = tmp_path / "a.safetensors", tmp_path / "b.safetensors", tmp_path / "m.safetensors"
    save_file(_state(1.0), str(a))
    save_file(_state(3.0), str(b))
    average.main([f"{a}:0.75", f"{b}:0.25", "--out", str(out)])
    merged = load_file(str(out))
    assert torch.equal(merged["canary.trained_ids"], torch.tensor([5, 7]))
    assert torch.allclose(merged["canary.embed_rows"], torch.full((2, 3), 1.5))
    assert merged["model.layers.0.mlp.bias"].dtype == torch.bfloat16
    assert torch.allclose(merged["model.layers.0.mlp.bias"].float(), torch.full((4,), 1.5))
    assert "0.75 x" in capsys.readouterr().out


@pytest.mark.parametrize(("states", "weights", "message"), [
    ([_state(1.0), _state(2.0)], [0.5, 0.4], "sum to 0.9"),
    ([_state(1.0), _state(2.0, ids=(7, 5))], [0.5, 0.5], "canary.trained_ids differs"),
    ([_state(1.0), {**_state(2.0), "extra": torch.zeros(1)}], [0.5, 0.5], "other tensors"),
    ([_state(1.0), {**_state(2.0), "canary.embed_rows": torch.zeros(3, 3)}], [0.5, 0.5],
     "shape (3, 3) in input 2"),
])
def test_averaging_other_builds_is_refused(states, weights, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        average.average(states, weights)


@pytest.mark.parametrize("spec", ["a.safetensors", "a.safetensors:x", "a.safetensors:0",
                                  "a.safetensors:1.5", ":0.5"])
def test_a_bad_weighted_input_names_itself(spec, capsys):
    with pytest.raises(SystemExit):
        average.main([spec, "--out", "m.safetensors"])
    assert repr(spec) in capsys.readouterr().err
