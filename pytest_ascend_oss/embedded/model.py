"""Build the embedded model directory: a tiny GptOssForCausalLM with the real o200k_harmony vocab.

The architecture is gpt-oss's own (alternating sliding-window and full attention, attention
sinks, MoE with top-k routing, YaRN RoPE), scaled down until vLLM CPU serves it on 2 cores:
2 layers, hidden 128, 2 query heads x 64 (vLLM CPU attention needs head_dim >= 64), 1 KV head,
4 experts top-2, sliding window 128. A trained canary replaces the weights later without
changing anything else here.

Until then the weights are random from a fixed seed, with one deliberate structure: purely random
weights spread the next-token distribution over 201,088 near-tied logits, so bfloat16 and float32
disagree at the first generated token and no precision comparison can pass for any deployment.
Here each token's embedding is a random unit-variance vector, and the unembedding row of a fixed
random successor of token t is t's embedding (normalized, scaled by SUCCESSOR_GAIN): the model
continues a prompt along a seeded random chain of tokens with a top-1 margin of about 6 logits,
far above bfloat16 rounding, while the attention and expert weights (transformers' init, std
0.02) still run through every kernel. The big matrices come from numpy's legacy RandomState,
whose stream is stable across versions, so the model is the same bit for bit everywhere.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from . import cache
from .tokenizer import write_tokenizer
from .vocab import ensure_vocab

MODEL_NAME = "gpt-oss-tiny-random"
MAX_MODEL_LEN = 131_072
SEED = 20261125

# The dimensions a gpt-oss config.json gives; the rest are transformers' gpt-oss defaults
# (YaRN factor 32 over 4096, swiglu limit 7, attention bias).
ARCH = {
    "num_hidden_layers": 2,
    "hidden_size": 128,
    "intermediate_size": 128,
    "head_dim": 64,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
    "sliding_window": 128,
    "max_position_embeddings": MAX_MODEL_LEN,
    "vocab_size": 201_088,
}
# Ids of the o200k_harmony specials: <|startoftext|>, <|endoftext|>; generation stops at
# <|return|>, <|call|> or <|endoftext|> as in gpt-oss's generation_config.json.
BOS_ID, PAD_ID = 199_998, 199_999
STOP_IDS = [200_002, 199_999, 200_012]
SUCCESSOR_GAIN = 1.0
RECIPE = {"name": MODEL_NAME, "arch": ARCH, "seed": SEED, "gain": SUCCESSOR_GAIN, "version": 2}


def vocab_dir() -> Path:
    return cache.cache_root() / "encodings"


def model_dir(perturb: float = 0.0) -> Path:
    suffix = f"-perturb-{perturb:g}" if perturb else ""
    return cache.cache_root() / "models" / (MODEL_NAME + suffix)


def ensure_model(log=print, perturb: float = 0.0) -> Path:
    """The model directory, built (or rebuilt when missing or corrupt) as needed.

    ``perturb`` > 0 gives a copy with seeded Gaussian noise of ``perturb`` x each tensor's
    standard deviation added to every weight: a numerically broken deployment on purpose.
    """
    if perturb < 0:
        raise ValueError(f"perturb must be >= 0, got {perturb}")
    vocab = ensure_vocab(vocab_dir())
    target = model_dir(perturb)
    recipe = {**RECIPE, "perturb": perturb} if perturb else RECIPE
    problem = cache.manifest_problem(target, recipe)
    if problem is None:
        return target
    log(f"building the embedded model: {problem}")
    staging = target.with_name(target.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    if perturb:
        shutil.copytree(ensure_model(log), staging)
        (staging / cache.MANIFEST).unlink()
        _perturb(staging / "model.safetensors", perturb)
    else:
        staging.mkdir(parents=True)
        _build(vocab, staging)
    cache.write_manifest(staging, recipe)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    log(f"embedded model ready in {target}")
    return target


def successor_matrices(vocab: int, hidden: int):
    """Embedding E (vocab x hidden, N(0, 1)) and unembedding U with U[succ[t]] = E[t] / |E[t]|
    x gain, for a seeded random permutation succ: the logit of t's successor is gain x |E[t]|
    (about 11) while the others are gain x N(0, 1) (the largest of 201,087 about 5)."""
    import numpy as np

    rng = np.random.RandomState(SEED)
    embedding = rng.standard_normal((vocab, hidden)).astype(np.float32)
    successor = rng.permutation(vocab)
    unembedding = np.empty_like(embedding)
    norms = np.linalg.norm(embedding, axis=1, keepdims=True)
    unembedding[successor] = embedding / norms * SUCCESSOR_GAIN
    return embedding, unembedding


def _perturb(weights: Path, sigma: float) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights))
    generator = torch.Generator().manual_seed(SEED + 1)
    for name in sorted(tensors):
        t = tensors[name]
        if t.is_floating_point() and t.numel() > 1:
            w = t.float()
            noise = torch.randn(w.shape, generator=generator) * (sigma * w.std())
            tensors[name] = (w + noise).to(t.dtype)
    save_file(tensors, str(weights), metadata={"format": "pt"})


def _build(vocab: Path, out: Path) -> None:
    import torch
    from transformers import GptOssConfig, GptOssForCausalLM

    config = GptOssConfig(
        **ARCH,
        bos_token_id=BOS_ID,
        eos_token_id=STOP_IDS,
        pad_token_id=PAD_ID,
        tie_word_embeddings=False,
    )
    torch.manual_seed(SEED)
    model = GptOssForCausalLM(config)
    embedding, unembedding = successor_matrices(ARCH["vocab_size"], ARCH["hidden_size"])
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(torch.from_numpy(embedding))
        model.lm_head.weight.copy_(torch.from_numpy(unembedding))
    model = model.to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    (out / "generation_config.json").write_text(
        json.dumps({"bos_token_id": BOS_ID, "eos_token_id": STOP_IDS, "pad_token_id": PAD_ID,
                    "do_sample": True}, indent=1)
    )
    write_tokenizer(vocab, out, MAX_MODEL_LEN)
