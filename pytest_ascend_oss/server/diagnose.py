"""Known fatal lines in a vLLM / vLLM-ascend server log, and what to do about each.

The remedies are the deployment guide's troubleshooting section (故障排查) plus what the
embedded CPU build is known to need. ``climb`` says whether the guide's fallback ladder
(retry once, then --enforce-eager) can help; for configuration errors it cannot, so a launch
fails at once instead of wasting two more startups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..secret import redact_text

OOM_REMEDY = (
    "reduce memory: a smaller --max-model-len (e.g. 32768), fewer --max-num-seqs (e.g. 8), "
    "--gpu-memory-utilization 0.85, and export PYTORCH_NPU_ALLOC_CONF=expandable_segments:True"
)


CARD_TAKEN = "card held by another process"


@dataclass(frozen=True)
class Signature:
    name: str
    pattern: re.Pattern[str]
    remedy: str
    climb: bool  # can the fallback ladder (retry, then --enforce-eager) help?


SIGNATURES: tuple[Signature, ...] = (
    # Another process holds the card: vllm-ascend's worker refuses to start when free memory is
    # below gpu_memory_utilization of the total (vllm_ascend/worker/worker.py:265-278 at
    # v0.18.0rc1: "Free memory on device (x/60.96 GiB) on startup is less than desired GPU
    # memory utilization (0.9, ...)"; vllm-ascend #8621, #7308). Neither a retry nor eager
    # mode frees the card; the launcher adds who holds it (npu-smi).
    Signature(
        CARD_TAKEN,
        re.compile(r"Free memory on device .*on startup is less than desired GPU memory "
                   r"utilization"),
        "another process holds this card's memory: stop it, or give this server other cards "
        "(ASCEND_RT_VISIBLE_DEVICES, or the suite's --devices); a server stopped a moment ago "
        "may still be releasing it",
        climb=False,
    ),
    Signature(
        "device out of memory",
        re.compile(r"\b(NPU|CUDA|XPU|device) out of memory|OutOfMemoryError"),
        OOM_REMEDY,
        climb=True,  # eager mode skips graph capture, which needs memory of its own
    ),
    # The same shortage reported by ACL below torch_npu (vllm-ascend #3479: "EL0004: [PID: 3132]
    # ... Failed to allocate memory. Possible Cause: Available memory is insufficient"; #4026;
    # newer CANN prints "Memory_Allocation_Failure(EL0004)").
    Signature(
        "ACL out of memory (EL0004)",
        re.compile(r"\bEL0004\b[^\n]*Failed to allocate memory"),
        OOM_REMEDY,
        climb=True,
    ),
    # vllm-ascend prints a negative budget when the weights leave no room and goes on to fail
    # or misbehave (vllm-project/vllm-ascend#9372: "Available KV cache memory: -0.87 GiB").
    Signature(
        "negative KV-cache budget",
        re.compile(r"Available KV cache memory: -\d"),
        "the weights leave no memory for the KV cache: lower --max-model-len, or raise "
        "--gpu-memory-utilization (e.g. 0.95), or spread the model with --tensor-parallel-size",
        climb=False,
    ),
    Signature(
        "CPU memory or KV cache too small",
        re.compile(
            r"is less than desired CPU memory utilization|larger than the available KV cache"
            r"|No available memory for the cache blocks|Cannot allocate memory|std::bad_alloc"
        ),
        "give the KV cache an explicit budget (VLLM_CPU_KVCACHE_SPACE=<GiB> on CPU; "
        "--kv-cache-memory-bytes on GPU and on vllm-ascend releases with PR #8289, which "
        "vllm-ascend 0.18's worker ignores: there use --gpu-memory-utilization) or lower "
        "--max-model-len; " + OOM_REMEDY,
        climb=False,
    ),
    Signature(
        "RopeOperation setup failed",
        re.compile(r"RopeOperation setup failed|AtbRingMLA"),
        "add --enforce-eager to isolate the graph-capture / fused-operator failure, "
        "then update vllm-ascend and CANN to the guide's versions",
        climb=True,
    ),
    # The guide's own entry; no upstream thread shows the code. Anchored: vLLM prefixes every
    # log line with the process id ("(EngineCore pid=1507903)"), which must not match.
    Signature(
        "ACL graph capture error 507903",
        re.compile(r"(?<![\w=])507903\b"),
        "export HCCL_OP_EXPANSION_MODE=AIV, or run with --enforce-eager",
        climb=True,
    ),
    # An AI Core exception, not a resource shortage: 507015 is "The DDR address of the MTE
    # instruction is out of range", a kernel reading outside its memory (vllm-ascend #3263,
    # #16581 in graph capture, #9115, #8015 on 0.18.0rc1 at long context). Eager mode takes
    # graph capture out of the picture; the blocking rerun names the kernel.
    Signature(
        "AI Core exception: MTE address out of range (507015)",
        re.compile(r"DDR address of the MTE instruction is out of range|error code is 507015"
                   r"|(?<![\w=])507015\b[^\n]*capture", re.IGNORECASE),
        "a kernel addressed memory outside its buffer: rerun with ASCEND_LAUNCH_BLOCKING=1 so "
        "the log names the operator, try --enforce-eager (if it then works, the captured graph "
        "is at fault), and check the operator against the CANN and vllm-ascend versions of "
        "the guide",
        climb=True,
    ),
    # Graph capture ran out of NPU streams / capture resources: "Alloc sq cq fail" with
    # ERR00100 (vllm-project/vllm-ascend#2629, #8393).
    Signature(
        "graph capture out of NPU streams",
        re.compile(r"Alloc sq cq fail", re.IGNORECASE),
        "graph capture needs more NPU streams than the driver gives: upgrade the HDK (driver "
        "and firmware) to the one vllm-ascend names, capture fewer sizes "
        "(--compilation-config '{\"cudagraph_capture_sizes\": [1, 2, 4, 8, 16]}'), or run "
        "--enforce-eager",
        climb=True,
    ),
    # An operator without an aclnn kernel inside ACL graph capture
    # (vllm-project/vllm-ascend#3960: "Current working aclop is Fill").
    Signature(
        "aclop operator inside graph capture",
        re.compile(r"Cannot run aclop operators during NPU graph capture"),
        "an operator without an aclnn kernel cannot be captured: run --enforce-eager, and "
        "upgrade CANN and vllm-ascend to the guide's versions",
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
    # The gpt-oss chat/tool path: the model's output does not follow the harmony grammar the
    # parser expects (vllm-project/vllm#22519, #22515; with ignore_eos, vllm-project/vllm#50690;
    # openai/harmony#60). A per-request error, quoted when the server died or a test fails.
    Signature(
        "harmony parse error",
        re.compile(r"Unexpected token \d+ while expecting start token 200006"
                   r"|unexpected tokens remaining in message header"),
        "upgrade vLLM (and openai-harmony) and refresh the checkpoint's generation_config.json "
        "and chat template from the model's current release; do not send ignore_eos to the "
        "chat endpoint of gpt-oss",
        climb=False,
    ),
    # Collective communication between the cards of a TP / PP / EP server: "ERR02200 DIST call
    # hccl api failed" (vllm-ascend #1704, #5135), "EI0006 ... Getting socket times out" (#486,
    # #5461, #9447), "EI0009 ... Transport init error" (#3162), "EH9999" (#2712).
    Signature(
        "HCCL communication failure",
        re.compile(r"ERR02200 DIST call hccl api failed|\bE[IH]\d{4}\b|Getting socket times out"
                   r"|Transport init error", re.IGNORECASE),
        "the cards of a parallel server could not talk: check that every card it uses is free "
        "and healthy (npu-smi info), that HCCL_* variables agree across its processes, and "
        "raise HCCL_CONNECT_TIMEOUT (default 120 s) when one rank starts late; a retry may "
        "pass, eager mode does not change it",
        climb=True,
    ),
    Signature(
        "port in use",
        re.compile(r"Address already in use|\[Errno 98\]"),
        "another process holds the port: stop it or choose another --port",
        climb=False,
    ),
    # Any other failed ACL call (vllm-project/vllm-ascend#6190, #1047): operators run
    # asynchronously, so the stack and the operator named are often wrong until rerun blocking.
    Signature(
        "ACL call failed",
        re.compile(r"ERR00100 PTA call acl api failed|\bE[EZ]9999\b"),
        "rerun with ASCEND_LAUNCH_BLOCKING=1 so the log names the operator that really failed "
        "(it runs synchronously, slower: unset it afterwards), then match that operator against "
        "the CANN and vllm-ascend versions of the guide",
        climb=True,
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
                return signature, redact_text(line.strip())
    return None


# An exception line as Python prints it, after vLLM's "(Worker_TP0 pid=1) ERROR 11-27 04:00:00
# [file.py:953] " prefix: "ZeroDivisionError: integer modulo by zero".
_EXCEPTION = re.compile(r"(?:^|\] )((?:[\w.]+\.)?\w*(?:Error|Exception))(?:: (.+))?$")
# Lines that report a failure further down the chain, not its cause.
_CONSEQUENCES = ("Engine core initialization failed", "Worker failed with error",
                 "WorkerProc failed to start", "The above exception", "EngineDeadError")


def first_error(text: str) -> str | None:
    """The first exception the log shows (the cause the "Engine core initialization failed"
    remedy points at), without vLLM's log prefix; None when there is none."""
    for line in text.splitlines():
        match = _EXCEPTION.search(line)
        if match and not any(c in line for c in _CONSEQUENCES):
            return redact_text(f"{match[1]}: {match[2].strip()}" if match[2] else match[1])
    return None


def tail(text: str, lines: int = 30) -> str:
    """The last lines of a server log as they may be quoted: vLLM logs its parsed arguments,
    the API key among them, so keys and bearer tokens are redacted."""
    return redact_text("\n".join(text.splitlines()[-lines:]))
