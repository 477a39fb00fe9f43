"""Offline hidden-state probe: last-layer hidden states of the checkpoint for given token ids,
on the device and dtype under test, against an fp32 CPU reference (the guide's "CPU FP32").

On an Ascend host ``device="npu"`` imports torch_npu (only then). The probe loads the checkpoint
twice (reference and device under test), so it needs the memory for both; for gpt-oss-20b in
fp32 that is ~84 GB of host memory for the reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DTYPES = ("float32", "bfloat16", "float16")


def _load(checkpoint: Path, device: str, dtype: str):
    import torch
    from transformers import AutoModelForCausalLM

    if device.startswith("npu"):
        import torch_npu  # noqa: F401  (registers the npu device)
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=getattr(torch, dtype))
    return model.to(device).eval()


def last_hidden_states(checkpoint: Path, sequences: list[list[int]], device: str = "cpu",
                       dtype: str = "float32") -> list[np.ndarray]:
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    model = _load(checkpoint, device, dtype)
    out = []
    with torch.no_grad():
        for ids in sequences:
            result = model(torch.tensor([ids], device=device), output_hidden_states=True)
            out.append(result.hidden_states[-1][0].float().cpu().numpy())
    del model
    return out


def cosine_per_token(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = np.linalg.norm(a64, axis=-1) * np.linalg.norm(b64, axis=-1)
    return (a64 * b64).sum(-1) / np.maximum(norms, 1e-30)


def probe(checkpoint: Path, sequences: list[list[int]], device: str = "cpu",
          dtype: str = "bfloat16") -> dict:
    """Per-token cosine of the device/dtype under test against fp32 on CPU: mean and min."""
    reference = last_hidden_states(checkpoint, sequences, "cpu", "float32")
    tested = last_hidden_states(checkpoint, sequences, device, dtype)
    per_sequence = [cosine_per_token(r, t) for r, t in zip(reference, tested)]
    everything = np.concatenate(per_sequence)
    return {"device": device, "dtype": dtype, "tokens": int(everything.size),
            "mean": float(everything.mean()), "min": float(everything.min()),
            "per_sequence_min": [float(c.min()) for c in per_sequence]}
