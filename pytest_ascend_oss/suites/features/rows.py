"""The guide's 功能状态矩阵 as rows of checks, and what each row's status is.

A row holds one or more checks (graph vs eager at three batch sizes, tool calling's six...).
Its status, as the guide's table shows it: ✅ when every check ran and passed, ❌ when one
failed, "— not run" (and why) when a check could not run, "— not supported by this backend"
with the server's own error. Never ✅ for a row with a check that did not run.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from ...server.preflight import PreflightError, check_checkpoint

# (row, the guide's 功能 name) in the guide's order
ROWS = (
    ("graph", "ACLGraph (graph mode vs --enforce-eager)"),
    ("tp", "Tensor Parallel"),
    ("pp", "Pipeline Parallel"),
    ("ep", "Expert Parallel"),
    ("bf16", "BF16"),
    ("mxfp4", "MXFP4 (not supported: BF16 served instead)"),
    ("tools", "Tool Calling"),
    ("reasoning", "Reasoning / Thinking (--reasoning-parser)"),
    ("chunked_prefill", "Long prompts under chunked prefill"),
    ("context_131k", "131K context"),
)
PARALLEL = ("tp", "pp", "ep")
PASSED, FAILED, NOT_RUN, UNSUPPORTED = "passed", "failed", "not_run", "unsupported"
# A check the profile says does not apply to its model (the canary's single-turn answers):
# shown in the row's notes, neither passing nor blocking the row.
NOT_APPLICABLE = "not_applicable"


def variant_flags(name: str, limits: dict) -> list[str]:
    """The flags a features variant adds to the server's command (``limits``: the profile's
    features table): the acceptance run's variants and the self-check's, from one place."""
    if name == "eager":
        return ["--enforce-eager"]
    if name == "chunked_prefill":
        return ["--max-num-batched-tokens", str(limits["chunked_prefill_tokens"])]
    if name in PARALLEL:
        return shlex.split(limits["parallel"][name])
    raise ValueError(f"no features variant {name!r}: eager, chunked_prefill, "
                     f"{', '.join(PARALLEL)}")


def row_status(checks: dict[str, dict]) -> str:
    """failed > not run > unsupported > passed; no checks that apply: not run."""
    states = {c["status"] for c in checks.values()} - {NOT_APPLICABLE}
    for status in (FAILED, NOT_RUN, UNSUPPORTED):
        if status in states:
            return status
    return PASSED if states else NOT_RUN


_DTYPE = re.compile(r"\bdtype=torch\.(\w+)")


def served_dtype(log_path: Path | None) -> str | None:
    """The dtype vLLM's engine was configured with, from its launch log ("... dtype=torch.
    bfloat16, ..." in the engine's config line); None without a log or such a line."""
    if log_path is None:
        return None
    try:
        text = Path(log_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = _DTYPE.findall(text)
    return found[-1] if found else None


# vLLM's engine config line ("Initializing a V1 LLM engine (v...) with config: ...,
# quantization=None, ...": vllm/v1/engine/core.py and VllmConfig.__str__ in vllm/config/vllm.py,
# 0.18.0 and 0.32.0 alike; vllm-ascend logs through vLLM's engine).
_QUANTIZATION = re.compile(r"\bquantization=(\w+)")


def served_quantization(log_path: Path | None) -> str | None:
    """The quantization vLLM's engine was configured with ("None" when it serves the weights as
    they are), from its launch log; None without a log or such a line."""
    if log_path is None:
        return None
    try:
        text = Path(log_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    found = _QUANTIZATION.findall(text)
    return found[-1] if found else None


def mxfp4_served(log_path: Path | None, checkpoint: Path | None) -> tuple[bool | None, str]:
    """Does the deployment serve MXFP4 weights? (True / False / None when nothing tells, and
    the evidence): the engine's quantization from its launch log, and the preflight's verdict on
    the checkpoint it was given (its config.json's quantization_config)."""
    evidence, served = [], None
    quantization = served_quantization(log_path)
    if quantization is not None:
        evidence.append(f"engine quantization={quantization} ({Path(log_path).name})")
        served = "mxfp4" in quantization.lower()
    if checkpoint is not None and (Path(checkpoint) / "config.json").is_file():
        try:
            check_checkpoint(str(checkpoint))
            evidence.append(f"{checkpoint}/config.json: no MXFP4 quantization_config")
            served = bool(served)  # the engine's verdict stands; unknown becomes "not MXFP4"
        except PreflightError as exc:
            evidence.append(str(exc).split(". ")[0])
            served = True
    return served, "; ".join(evidence)


def results_tests(path: Path) -> dict[str, dict]:
    """The ``tests`` of a results.json given with --long-context-results; ValueError naming the
    file when it is not one (checked before anything starts, read again by the 131K row)."""
    try:
        tests = json.loads(Path(path).read_text(encoding="utf-8"))["tests"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"--long-context-results {path}: not a results.json of this plugin "
                         f"({type(exc).__name__}: {exc})") from None
    if not isinstance(tests, dict):
        # ValueError, as every bad input file: the plugin makes it a usage error
        raise ValueError(f"--long-context-results {path}: its \"tests\" is not a table")  # noqa: TRY004
    return tests


GUIDE_CONTEXT = 131072
GUIDE_DEPTHS = (0, 25, 50, 75, 100)
_GRID_TEST = re.compile(r"test_long_context\.py::test_needle_(recalled|ttft)"
                        r"\[ctx=(\d+)-depth=(\d+)\]$")


def context_131k(tests: dict[str, dict], where: str) -> tuple[str, str]:
    """The 131K row from a results file's tests (this session's or one given): ✅ only when the
    guide's grid at 131,072 tokens ran at every depth, recall and TTFT, and all passed."""
    seen: dict[tuple[str, int], str] = {}
    for nodeid, entry in tests.items():
        match = _GRID_TEST.search(nodeid)
        if match and int(match[2]) == GUIDE_CONTEXT:
            seen[(match[1], int(match[3]))] = entry.get("outcome", "not finished")
    failed = sorted(f"{kind} at depth {depth} %: {outcome}"
                    for (kind, depth), outcome in seen.items() if outcome != "passed")
    if any(o in ("failed", "error") for o in seen.values()):
        return FAILED, f"the long-context grid at 131,072 ({where}) failed: {'; '.join(failed)}"
    missing = [f"{kind} at depth {d} %" for kind in ("recalled", "ttft") for d in GUIDE_DEPTHS
               if (kind, d) not in seen]
    if not seen:
        return NOT_RUN, (f"the long-context grid did not run at 131,072 tokens ({where}): run "
                         "`pytest -m 'long_context or features' --ctx 131072`, or give "
                         "--long-context-results FILE from such a run")
    if missing or failed:
        return NOT_RUN, (f"the grid at 131,072 ({where}) is incomplete: "
                         f"{'; '.join(missing + failed)}")
    return PASSED, (f"needle recalled and first token in time at 131,072 tokens, depths "
                    f"{', '.join(map(str, GUIDE_DEPTHS))} % ({where})")
