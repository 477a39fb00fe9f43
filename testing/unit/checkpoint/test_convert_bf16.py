"""`ascend-oss convert-bf16` on an MXFP4 canary (testing/fakes/mxfp4.py): every expert tensor
equal, bit for bit, to the weights the MXFP4 blocks stand for (decoded there without
transformers), every other tensor copied, a config vLLM loads without quantization, and the
same greedy ids from transformers; bad sources refused with the file named."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pytest_ascend_oss.checkpoint.convert_bf16 import convert
from pytest_ascend_oss.cli import main
from pytest_ascend_oss.embedded.model import ensure_model
from pytest_ascend_oss.server.preflight import PreflightError, check_checkpoint

_spec = importlib.util.spec_from_file_location(
    "mxfp4_canary", Path(__file__).resolve().parents[2] / "fakes" / "mxfp4.py")
mxfp4 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mxfp4)


@pytest.fixture(scope="module")
def canaries(tmp_path_factory):
    """(the MXFP4 canary, the BF16 checkpoint of the weights it stands for)."""
    root = tmp_path_factory.mktemp("mxfp4")
    mxfp4.make(ensure_model(lambda m: None), root / "mxfp4", root / "dequantized")
    return root / "mxfp4", root / "dequantized"


def _tensors(directory: Path) -> dict[str, torch.Tensor]:
    out = {}
    for path in sorted(directory.glob("*.safetensors")):
        out.update(load_file(path))
    return out


def test_the_quantizer_is_mxfp4_as_gpt_oss_stores_it():
    weight = torch.tensor([[[0.75, -3.0], [6.0, 0.0]] + [[0.0, 0.0]] * 30], dtype=torch.float32)
    blocks, scales, back = mxfp4.quantize(weight)  # one expert, in 32, out 2
    assert blocks.shape == (1, 2, 1, 16) and scales.shape == (1, 2, 1)
    assert scales[0, 0, 0] == 127 + 0  # max 6 -> exponent 2 - 2 = 0: 6 is exactly FP4's 6.0
    assert blocks[0, 0, 0, 0] == (0b0001 | (0b0111 << 4))  # 0.75 -> 0.5 (even, low), 6.0 high
    assert back[0, 1, 0] == 6.0 and back[0, 0, 1] == -3.0


def test_every_expert_tensor_is_the_dequantized_weight_bit_for_bit(canaries, tmp_path):
    source, dequantized = canaries
    lines = []
    done = convert(source, tmp_path / "bf16", progress=lines.append, shard_bytes=4 << 20)
    got, want = _tensors(done.output), _tensors(dequantized)
    assert sorted(got) == sorted(want)
    for key in want:
        assert got[key].dtype == want[key].dtype and torch.equal(got[key], want[key]), key
    assert done.unpacked == 6 and done.tensors == len(want)  # 3 layers x (gate_up, down)
    assert sum("-> model.layers.0.mlp.experts.gate_up_proj BF16 [4, 128, 256]" in line
               for line in lines) == 1
    index = json.loads((done.output / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(want)
    assert len(set(index["weight_map"].values())) > 1  # sharded at the limit given
    config = json.loads((done.output / "config.json").read_text())
    assert "quantization_config" not in config and config["dtype"] == "bfloat16"
    assert check_checkpoint(str(done.output)) is not None  # the preflight accepts it
    assert (done.output / "tokenizer.json").is_file()
    assert not list(tmp_path.glob(".bf16.partial-*"))


def test_transformers_loads_it_and_answers_as_the_dequantized_weights(canaries, tmp_path):
    from transformers import AutoModelForCausalLM

    source, dequantized = canaries
    done = convert(source, tmp_path / "bf16", progress=lambda m: None)
    prompt = torch.tensor([[200006, 1428, 200008, 12194, 200007]])
    ids = []
    for directory in (done.output, dequantized):
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.bfloat16)
        ids.append(model.generate(prompt, max_new_tokens=12, do_sample=False)[0].tolist())
    assert ids[0] == ids[1]


def test_the_preflight_refusal_names_the_command(canaries):
    source, _ = canaries
    with pytest.raises(PreflightError) as err:
        check_checkpoint(str(source))
    assert f"ascend-oss convert-bf16 {source} {source}-bf16" in str(err.value)


@pytest.mark.parametrize("case", ["bf16 source", "scales missing", "destination exists"])
def test_bad_sources_are_refused_with_the_file_named(canaries, tmp_path, case, capsys):
    source, dequantized = canaries
    destination = tmp_path / "out"
    if case == "bf16 source":
        source, says = dequantized, "not 'mxfp4': nothing to convert"
    elif case == "scales missing":
        broken = tmp_path / "broken"
        broken.mkdir()
        (broken / "config.json").write_text((source / "config.json").read_text())
        tensors = {k: v for k, v in _tensors(source).items() if not k.endswith("_scales")}
        from safetensors.torch import save_file

        save_file(tensors, broken / "model.safetensors")
        source, says = broken, "_blocks has no model.layers."
    else:
        destination.mkdir()
        says = "exists: give a new directory"
    assert main(["convert-bf16", str(source), str(destination)]) == 1
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    if case != "destination exists":
        assert not destination.exists()
