"""Known fatal lines in a vLLM / vLLM-ascend server log, and what to do about each.

The remedies are the deployment guide's troubleshooting section (故障排查) plus what the
embedded CPU build is known to need. ``climb`` says whether the guide's fallback ladder
(retry once, then --enforce-eager) can help; for configuration errors it cannot, so a launch
fails at once instead of wasting two more startups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OOM_REMEDY = (
    "reduce memory: a smaller --max-model-len (e.g. 32768), fewer --max-num-seqs (e.g. 8), "
    "--gpu-memory-utilization 0.85, and export PYTORCH_NPU_ALLOC_CONF=expandable_segments:True"
)


@dataclass(frozen=True)
class Signature:
    name: str
    pattern: re.Pattern[str]
    remedy: str
    climb: bool  # can the fallback ladder (retry, then --enforce-eager) help?


SIGNATURES: tuple[Signature, ...] = (
    Signature(
        "device out of memory",
        re.compile(r"\b(NPU|CUDA|XPU|device) out of memory|OutOfMemoryError"),
        OOM_REMEDY,
        climb=True,  # eager mode skips graph capture, which needs memory of its own
    ),
    Signature(
        "CPU memory or KV cache too small",
        re.compile(
            r"is less than desired CPU memory utilization|larger than the available KV cache"
            r"|No available memory for the cache blocks|Cannot allocate memory|std::bad_alloc"
        ),
        "give the KV cache an explicit budget (VLLM_CPU_KVCACHE_SPACE=<GiB> on CPU, "
        "--kv-cache-memory-bytes elsewhere) or lower --max-model-len; " + OOM_REMEDY,
        climb=False,
    ),
    Signature(
        "RopeOperation setup failed",
        re.compile(r"RopeOperation setup failed|AtbRingMLA"),
        "add --enforce-eager to isolate the graph-capture / fused-operator failure, "
        "then update vllm-ascend and CANN to the guide's versions",
        climb=True,
    ),
    Signature(
        "ACL graph capture error 507903",
        re.compile(r"507903"),
        "export HCCL_OP_EXPANSION_MODE=AIV, or run with --enforce-eager",
        climb=True,
    ),
    Signature(
        "harmony vocab download error",
        re.compile(
            r"TIKTOKEN_ENCODINGS_BASE is not set|invalid tiktoken vocab file"
            r"|(error|fail)[^\n]*download[^\n]*(vocab|tiktoken)",
            re.IGNORECASE,
        ),
        "the gpt-oss chat path (openai-harmony) needs o200k_base.tiktoken offline: put the file "
        "in a directory and export TIKTOKEN_ENCODINGS_BASE=<that directory> "
        "(`ascend-oss vocab DIR` writes a verified copy)",
        climb=False,
    ),
    Signature(
        "MXFP4 unsupported",
        re.compile(r"mxfp4[^\n]*(not supported|unsupported|is not)|(unsupported|unknown)"
                   r"[^\n]*quantization[^\n]*mxfp4", re.IGNORECASE),
        "vLLM-ascend cannot load MXFP4 weights and --dtype bfloat16 does not dequantize them: "
        "serve a BF16 checkpoint (config.json without quantization_config)",
        climb=False,
    ),
    Signature(
        "port in use",
        re.compile(r"Address already in use|\[Errno 98\]"),
        "another process holds the port: stop it or choose another --port",
        climb=False,
    ),
    # Last: vLLM prints this after the specific cause, which should win when both are present.
    Signature(
        "Engine core initialization failed",
        re.compile(r"Engine core initialization failed"),
        "the engine process died while starting; the first error above this line in the "
        "server log is the cause",
        climb=True,
    ),
)


def find_fatal(text: str) -> tuple[Signature, str] | None:
    """The most specific known fatal signature in ``text`` and the line that shows it."""
    lines = text.splitlines()
    for signature in SIGNATURES:
        for line in lines:
            if signature.pattern.search(line):
                return signature, line.strip()
    return None


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.splitlines()[-lines:])
