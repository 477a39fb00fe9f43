"""The guide's third device, "CPU FP32": a precision baseline computed by transformers in float32
on the CPU, from the checkpoint itself, with no serving stack at all.

It holds what a recorded server baseline holds (greedy ids with their top-k logprobs, the
perplexity conversations' logprobs, the last-layer hidden states of sampled positions), so any
server is judged against it the same way. vLLM in float32 would not do: a bug vLLM has in both
dtypes would agree with itself.

gpt-oss-20b in float32 needs ~84 GB of host memory; ``check_memory`` says so before loading.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...gptoss import harmony
from . import hidden
from .collect import TOP_K

# Beyond the weights: activations, the KV cache of one 256-token answer, the Python heap.
OVERHEAD_BYTES = 2 << 30
OVERHEAD_FRACTION = 0.10
# A device name that says what produced the reference, in reports and baseline files.
DEVICE = "cpu-fp32-transformers"


class ReferenceError(RuntimeError):
    pass


def _header(path: Path) -> dict:
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(size))


def parameters(checkpoint: Path) -> int:
    """Parameter count from the safetensors headers (no weights read). MXFP4 blocks (uint8)
    hold two 4-bit values per byte; their scales are not parameters once dequantized."""
    files = sorted(Path(checkpoint).glob("*.safetensors"))
    if not files:
        raise ReferenceError(f"{checkpoint}: no *.safetensors weights (a transformers checkpoint "
                             "directory is needed)")
    total = 0
    for file in files:
        for name, info in _header(file).items():
            if name == "__metadata__":
                continue
            numel = int(np.prod(info["shape"], dtype=np.int64))
            if name.endswith("_scales"):
                continue
            total += numel * 2 if name.endswith("_blocks") else numel
    return total


def needed_bytes(checkpoint: Path) -> int:
    weights = parameters(checkpoint) * 4  # float32
    return int(weights * (1 + OVERHEAD_FRACTION)) + OVERHEAD_BYTES


def available_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise ReferenceError("cannot read MemAvailable from /proc/meminfo")


def check_memory(checkpoint: Path, available: int | None = None) -> int:
    """The bytes the float32 reference needs; refuses when the host has less available."""
    need = needed_bytes(checkpoint)
    have = available_bytes() if available is None else available
    if need > have:
        raise ReferenceError(
            f"{checkpoint}: a float32 reference needs about {need / 2**30:.1f} GiB of host memory "
            f"({parameters(checkpoint) / 1e9:.2f} B parameters x 4 bytes + "
            f"{OVERHEAD_FRACTION:.0%} + {OVERHEAD_BYTES >> 30} GiB), this host has "
            f"{have / 2**30:.1f} GiB available. Record it on a host with more memory, or record "
            "a GPU server instead (--record-baseline)")
    return need


def _text(ids: list[int]) -> str:
    """The text vLLM returns for ``ids`` (special tokens skipped, as its default)."""
    return harmony.encoding().decode([t for t in ids if t < harmony.BOS_ID])


def record(checkpoint: Path, rendered: list[dict], settings: dict, conversations: list[dict],
           progress: Callable[[str], None] = print, threads: int | None = None) -> dict:
    """Greedy generations, top-k logprobs, perplexity logprobs and sampled hidden states, all
    from transformers in float32 on the CPU. ``rendered`` as ``run.render_prompts`` gives."""
    import torch
    from transformers import AutoModelForCausalLM

    check_memory(checkpoint)
    if threads:
        torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype=torch.float32).eval()
    prompts_out, states = [], []
    with torch.no_grad():
        for i, p in enumerate(rendered, 1):
            ids = torch.tensor([p["prompt_ids"]])
            out = model.generate(ids, max_new_tokens=settings["max_tokens"], do_sample=False,
                                 eos_token_id=harmony.STOP_IDS, pad_token_id=harmony.PAD_ID,
                                 output_logits=True, return_dict_in_generate=True)
            generated = out.sequences[0, ids.shape[1]:].tolist()
            top = []
            for logits in out.logits[:len(generated)]:
                logprobs = torch.log_softmax(logits[0].double(), -1)
                values, indices = logprobs.topk(TOP_K)
                top.append({int(t): float(v) for t, v in zip(indices, values)})
            sequence = p["prompt_ids"] + generated
            last = model.model(torch.tensor([sequence])).last_hidden_state[0].numpy()
            positions = hidden.sample_positions(len(sequence))
            states.append({"positions": positions, "states": last[positions]})
            prompts_out.append({**p, "generated_ids": generated, "text": _text(generated),
                                "top_logprobs": top,
                                "finish_reason": "stop" if generated and
                                generated[-1] in harmony.STOP_IDS else "length"})
            if i % 10 == 0 or i == len(rendered):
                progress(f"reference (transformers, float32, CPU): {i}/{len(rendered)} prompts")
        scored = []
        for c in conversations:
            logits = model(torch.tensor([c["ids"]])).logits[0].double()
            logprobs = torch.log_softmax(logits, -1)
            scored.append([float(logprobs[j - 1, c["ids"][j]])
                           for j in range(c["score_from"], len(c["ids"]))])
    del model
    return {"prompts": prompts_out,
            "perplexity": {"conversations": conversations, "logprobs": scored},
            "hidden_states": {"source": DEVICE, "entries": hidden.encode(states)}}


def baseline_for(checkpoint: Path, meta: dict, rendered: list[dict], conversations: list[dict],
                 progress: Callable[[str], None] = print) -> dict:
    """A complete baseline (``baseline.save`` writes it) of ``checkpoint`` in float32."""
    settings = {k: v for k, v in meta["sampling"].items() if k != "endpoint"}
    recorded = record(checkpoint, rendered, settings, conversations, progress)
    return {**meta, **recorded, "device": DEVICE, "checkpoint": str(checkpoint),
            "perplexity": {**recorded["perplexity"], **meta["perplexity"]}}


def cached(checkpoint: Path, meta: dict, rendered: list[dict], conversations: list[dict],
           progress: Callable[[str], None] = print) -> Path:
    """The float32 baseline of ``checkpoint`` for these settings, recorded once and kept in the
    cache (the embedded default's reference; ~2 minutes for the canary on 2 cores)."""
    from ...cache import cache_root, sha256_file
    from .baseline import VERSION, BaselineError, check_compatible, load, save

    weights = {p.name: sha256_file(p) for p in sorted(Path(checkpoint).glob("*.safetensors"))}
    key = hashlib.sha256(json.dumps({"baseline": VERSION, "device": DEVICE, "weights": weights,
                                     "meta": meta}, sort_keys=True).encode()).hexdigest()
    path = cache_root() / "references" / f"{Path(checkpoint).name}-{key[:16]}.json.gz"
    try:  # a file from an interrupted or older recording is recorded again
        check_compatible(path, load(path), meta)
    except BaselineError:
        progress(f"recording the float32 reference of {checkpoint} (transformers, CPU) once: "
                 f"{path}")
        save(path, baseline_for(checkpoint, meta, rendered, conversations, progress))
    return path
