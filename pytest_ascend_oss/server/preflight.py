"""Refuse launches that cannot work, before spending minutes on them.

- an MXFP4 checkpoint: vLLM-ascend cannot load MXFP4, and ``--dtype bfloat16`` does not
  dequantize it (the deployment guide claims it does; it does not);
- a gpt_oss model without the offline o200k vocab: openai-harmony would try to download it at the
  first chat request, which fails on an offline host.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..gptoss.vocab import vocab_problem
from . import argv as argv_tools


class PreflightError(RuntimeError):
    pass


def check_checkpoint(model: str | None) -> dict | None:
    """Read a local checkpoint's config.json and refuse MXFP4. Returns the config (None if the
    model is not a local directory, e.g. a hub id: nothing to check before launch then)."""
    if not model:
        return None
    config_path = Path(model) / "config.json"
    if not config_path.is_file():
        return None
    try:
        config = json.loads(config_path.read_text())
    except ValueError as exc:
        raise PreflightError(f"{config_path} is not valid JSON: {exc}") from None
    quant = config.get("quantization_config") or {}
    method = str(quant.get("quant_method", "")).lower()
    if "mxfp4" in method or "mxfp4" in json.dumps(quant).lower():
        raise PreflightError(
            f"{config_path} declares an MXFP4 quantization_config ({quant.get('quant_method')!r}). "
            "vLLM-ascend cannot load MXFP4 weights, and --dtype bfloat16 does not dequantize "
            "them. Serve a BF16 checkpoint instead (config.json without quantization_config), "
            "e.g. dequantize once on a GPU/CPU host with transformers and save_pretrained."
        )
    return config


def check_vocab(config: dict | None, env: dict[str, str]) -> None:
    if not config or config.get("model_type") != "gpt_oss":
        return
    base = env.get("TIKTOKEN_ENCODINGS_BASE")
    fix = (
        "openai-harmony renders gpt-oss chat and needs o200k_base.tiktoken offline: run "
        "`ascend-oss vocab DIR` (writes a verified copy) and export TIKTOKEN_ENCODINGS_BASE=DIR"
    )
    if not base:
        raise PreflightError(f"TIKTOKEN_ENCODINGS_BASE is not set. {fix}")
    problem = vocab_problem(Path(base))
    if problem:
        raise PreflightError(f"TIKTOKEN_ENCODINGS_BASE={base}: {problem}. {fix}")


def preflight(argv: list[str], env: dict[str, str] | None = None) -> dict | None:
    """All checks for a launch; returns the checkpoint config when there is a local one."""
    env = dict(os.environ) if env is None else env
    config = check_checkpoint(argv_tools.model_path(argv))
    check_vocab(config, env)
    return config
