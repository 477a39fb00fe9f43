"""An MXFP4 canary for the plugin's own tests: the canary's expert weights quantized the way
openai/gpt-oss-20b stores them (``*_blocks`` / ``*_scales`` and an ``mxfp4``
quantization_config), and the dequantized weights they stand for, computed here without
transformers so that the conversion is checked against an independent decoding.

MXFP4 (OCP Microscaling, as gpt-oss uses it): blocks of 32 values along the input dimension,
one shared power-of-two exponent per block (stored + 127 in a uint8), each value an FP4 E2M1
number (+-0, 0.5, 1, 1.5, 2, 3, 4, 6), two per byte, the even index in the low nibble.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

FP4 = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0,
                -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0], dtype=np.float32)
EXPERTS = ("gate_up_proj", "down_proj")


def quantize(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``weight`` [experts, in, out] -> (blocks uint8 [experts, out, in/32, 16], scales uint8
    [experts, out, in/32], the dequantized weight [experts, in, out] in bfloat16)."""
    w = weight.float().numpy().transpose(0, 2, 1)  # [experts, out, in]: rows are outputs
    experts, rows, width = w.shape
    grouped = w.reshape(experts, rows, width // 32, 32)
    amax = np.abs(grouped).max(axis=-1)
    exponent = np.where(amax > 0, np.floor(np.log2(np.maximum(amax, 1e-30))) - 2, 0)
    scaled = grouped / np.exp2(exponent)[..., None]
    # nearest FP4 value (of the first 8: magnitudes), sign kept apart
    nearest = np.abs(np.abs(scaled)[..., None] - FP4[:8]).argmin(axis=-1)
    index = (nearest + np.where(scaled < 0, 8, 0)).astype(np.uint8)
    packed = index[..., 0::2] | (index[..., 1::2] << 4)
    values = FP4[index] * np.exp2(exponent)[..., None]
    dequantized = values.reshape(experts, rows, width).transpose(0, 2, 1)
    return (torch.from_numpy(np.ascontiguousarray(packed)),
            torch.from_numpy((exponent + 127).astype(np.uint8)),
            torch.from_numpy(np.ascontiguousarray(dequantized)).to(torch.bfloat16))


def make(canary: Path, mxfp4_dir: Path, dequantized_dir: Path) -> None:
    """Write the MXFP4 canary and the BF16 checkpoint of the weights it stands for."""
    weights = load_file(canary / "model.safetensors")
    packed, plain = {}, {}
    for key, tensor in weights.items():
        if key.rsplit(".", 1)[-1] in EXPERTS:
            blocks, scales, dequantized = quantize(tensor)
            packed[f"{key}_blocks"], packed[f"{key}_scales"] = blocks, scales
            plain[key] = dequantized
        else:
            packed[key] = plain[key] = tensor
    config = json.loads((canary / "config.json").read_text())
    for directory, tensors, conf in (
            (mxfp4_dir, packed, {**config, "quantization_config": {
                "quant_method": "mxfp4", "modules_to_not_convert": [
                    "model.layers.*.self_attn", "model.layers.*.mlp.router",
                    "model.embed_tokens", "lm_head"]}}),
            (dequantized_dir, plain, config)):
        directory.mkdir(parents=True)
        for entry in canary.iterdir():
            if entry.is_file() and entry.name not in ("model.safetensors", "config.json"):
                shutil.copy2(entry, directory / entry.name)
        (directory / "config.json").write_text(json.dumps(conf, indent=2))
        # two shards with an index, as the hub's checkpoint is
        keys = sorted(tensors)
        half = {"model-00001-of-00002.safetensors": keys[: len(keys) // 2],
                "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
        for name, part in half.items():
            save_file({k: tensors[k].contiguous() for k in part}, directory / name,
                      metadata={"format": "pt"})
        (directory / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {}, "weight_map": {k: n for n, part in half.items() for k in part}}))
