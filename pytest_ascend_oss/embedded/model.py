"""Build the embedded model directory: the canary, a tiny trained GptOssForCausalLM.

The architecture is gpt-oss's own (alternating sliding-window and full attention, attention
sinks, MoE with top-k routing, YaRN RoPE, the o200k_harmony vocab), scaled down until vLLM CPU
serves it on 2 cores: 2 or 3 layers (as many as the stored canary has), hidden 128, 2 query
heads x 64 (vLLM CPU attention needs head_dim >= 64), 1 KV head, 4 experts top-2, sliding
window 128.

Its weights are trained (canary/train.py) so that a healthy serving stack answers a known set
of questions exactly: the guide's prompts, needles in haystacks to 131,072 tokens, tool calls.
The repository keeps only what training changed (canary/canary.safetensors, ~4 MB): every
non-embedding weight and the embedding/unembedding rows of about 1,300 structural tokens. The
other ~200,000 rows are regenerated here from a seed with numpy's legacy RandomState, whose
stream is frozen, so the model is the same bit for bit everywhere (canary/layout.py says why
those rows matter to a trained model).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .. import cache
from ..gptoss.harmony import BOS_ID, PAD_ID, STOP_IDS
from ..gptoss.tokenizer import write_tokenizer
from ..gptoss.vocab import ensure_vocab, vocab_dir

MODEL_NAME = "gpt-oss-canary"
MAX_MODEL_LEN = 131_072
PERTURB_SEED = 20261126

# The dimensions a gpt-oss config.json gives, but the depth (arch()); the rest are
# transformers' gpt-oss defaults (YaRN factor 32 over 4096, swiglu limit 7, attention bias).
ARCH = {
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
CANARY_WEIGHTS = Path(__file__).with_name("canary") / "canary.safetensors"


def stored_layers(weights: Path = CANARY_WEIGHTS) -> int:
    """How many layers a stored canary has. The stored weights decide the depth: the canary
    was trained with two layers up to stage 7; training builds three since stage 8 (the third,
    a value-lookup layer, canary/lookup.py; shipped since stage 10), and a two-layer canary
    loads into it silent."""
    from safetensors import safe_open

    with safe_open(str(weights), "pt") as f:
        names = f.keys()   # a safe_open handle is not iterable itself
    return 1 + max(int(k.split(".")[2]) for k in names if k.startswith("model.layers."))


def arch() -> dict:
    """The served canary's dimensions, its depth read from the stored weights."""
    return {**ARCH, "num_hidden_layers": stored_layers()}


def recipe() -> dict:
    """What a cached build was made from: a retrained canary invalidates the cache."""
    return {"name": MODEL_NAME, "arch": arch(), "canary_sha256": cache.sha256_file(CANARY_WEIGHTS),
            "version": 4}  # 4: tokenizer_config names PreTrainedTokenizerFast (vLLM 0.18)


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
    wanted = recipe()
    if perturb:
        wanted["perturb"] = perturb
    target = model_dir(perturb)
    if cache.manifest_problem(target, wanted) is None:
        return target
    base = ensure_model(log) if perturb else None  # built first, under its own lock
    with cache.build_lock(target):
        problem = cache.manifest_problem(target, wanted)  # another process may have built it
        if problem is None:
            return target
        log(f"building the embedded model: {problem}")
        staging = target.with_name(target.name + ".building")
        shutil.rmtree(staging, ignore_errors=True)
        if base is not None:
            shutil.copytree(base, staging)
            (staging / cache.MANIFEST).unlink()
            _perturb(staging / "model.safetensors", perturb)
        else:
            staging.mkdir(parents=True)
            _build(vocab, staging)
        cache.write_manifest(staging, wanted)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    log(f"embedded model ready in {target}")
    return target


def _perturb(weights: Path, sigma: float) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights))
    generator = torch.Generator().manual_seed(PERTURB_SEED)
    for name in sorted(tensors):
        t = tensors[name]
        if t.is_floating_point() and t.numel() > 1:
            w = t.float()
            noise = torch.randn(w.shape, generator=generator) * (sigma * w.std())
            tensors[name] = (w + noise).to(t.dtype)
    save_file(tensors, str(weights), metadata={"format": "pt"})


def _build(vocab: Path, out: Path) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import GptOssConfig, GptOssForCausalLM

    from .canary.layout import seeded_rows, vocab_bytes

    config = GptOssConfig(
        **arch(),
        bos_token_id=BOS_ID,
        eos_token_id=STOP_IDS,
        pad_token_id=PAD_ID,
        tie_word_embeddings=False,
    )
    trained = load_file(str(CANARY_WEIGHTS))
    model = GptOssForCausalLM(config)
    embedding, unembedding = (torch.from_numpy(m) for m in seeded_rows(vocab_bytes(ARCH["vocab_size"])))
    rows = trained.pop("canary.trained_ids")
    embedding[rows] = trained.pop("canary.embed_rows")
    unembedding[rows] = trained.pop("canary.unembed_rows")
    trained["model.embed_tokens.weight"] = embedding
    trained["lm_head.weight"] = unembedding
    model.load_state_dict(trained, strict=True)
    model = model.to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    (out / "generation_config.json").write_text(
        json.dumps({"bos_token_id": BOS_ID, "eos_token_id": STOP_IDS, "pad_token_id": PAD_ID,
                    "do_sample": True}, indent=1)
    )
    write_tokenizer(vocab, out, MAX_MODEL_LEN)
