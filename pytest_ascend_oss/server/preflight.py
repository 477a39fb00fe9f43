"""Refuse launches that cannot work, before spending minutes on them.

- an MXFP4 checkpoint: vLLM-ascend cannot load MXFP4, and ``--dtype bfloat16`` does not
  dequantize it (the deployment guide claims it does; it does not);
- a gpt_oss model without the offline o200k vocab: openai-harmony would try to download it at the
  first chat request, which fails on an offline host;
- a gpt-oss command with a parser name vLLM does not know (the guide's ``GptOss``), or
  ``--enable-auto-tool-choice`` without ``--tool-call-parser``: vLLM dies at start-up.

And advise, without refusing, where the command starts but cannot pass criteria of the suite:
a gpt-oss command without the tool parser (vLLM drops the model's tool calls) or without the
reasoning parser.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

from ..gptoss.vocab import vocab_problem
from . import argv as argv_tools


class PreflightError(RuntimeError):
    pass


# MXFP4 on NPU: vLLM raises "mxfp4 quantization is currently not supported in npu."
# (vllm/platforms/interface.py:493-495 in 0.18.0) and vllm-ascend supports only its own and
# compressed-tensors quantizations (vllm_ascend/platform.py, supported_quantization). vllm-ascend's
# CI serves a BF16 conversion instead: unsloth/gpt-oss-20b-BF16
# (tests/e2e/multicard/2-cards/test_offline_inference_distributed.py at v0.18.0rc1).
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
            "them. Serve a BF16 checkpoint instead (config.json without quantization_config): "
            f"convert this one with `ascend-oss convert-bf16 {model} {model.rstrip('/')}-bf16` "
            "(tensor by tensor, on any host with torch and transformers), or use the one "
            "vllm-ascend's own CI serves, unsloth/gpt-oss-20b-BF16."
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


# gpt-oss's parsers as vLLM registers them, the same names in 0.18.0, 0.23.0 and 0.32.0:
# reasoning "openai_gptoss" (vllm/reasoning/__init__.py, the lazy-parser table) and tool "openai"
# (vllm/tool_parsers/__init__.py). A name that is not registered raises KeyError at start-up
# ("Reasoning parser 'GptOss' not found", vllm/reasoning/abs_reasoning_parsers.py:196-199 in
# 0.18.0; "Tool parser ... not found", vllm/tool_parsers/abstract_tool_parser.py:149).
GPT_OSS_PARSERS = {"--reasoning-parser": "openai_gptoss", "--tool-call-parser": "openai"}
# A user's own parser module: its names are its own, not checked here.
PARSER_PLUGINS = {"--reasoning-parser": "--reasoning-parser-plugin",
                  "--tool-call-parser": "--tool-parser-plugin"}
TOOL_FIX = {"--tool-call-parser": "openai", "--enable-auto-tool-choice": None}  # corrected()
# Why the tool parser matters: on vLLM 0.18's harmony path the chat answer carries
# `tool_calls` only when a tool parser is set (vllm/entrypoints/openai/chat_completion/
# serving.py:1327-1356 in 0.18.0); without one the model's calls are silently dropped.
NO_TOOL_PARSER = ("the command has no --tool-call-parser openai --enable-auto-tool-choice: vLLM "
                  "then drops gpt-oss's tool calls from chat answers, so every tool-calling "
                  "criterion fails for the command, not for the deployment")
NO_REASONING_PARSER = ("the command has no --reasoning-parser openai_gptoss, which the guide's "
                       "feature matrix and vllm-ascend's gpt-oss tutorial serve with")


def is_gpt_oss(argv: list[str], config: dict | None) -> bool:
    """Does the command serve gpt-oss? The local config says; else the model's name."""
    if config is not None:
        return config.get("model_type") == "gpt_oss"
    return bool(re.search(r"gpt[-_]?oss", argv_tools.model_path(argv) or "", re.IGNORECASE))


def corrected(argv: list[str], fixes: dict[str, str | None]) -> str:
    """The command with each flag in ``fixes`` set to its value (None: a switch), as a user
    would paste it."""
    drop = {flag: (0 if value is None else 1) for flag, value in fixes.items()}
    out = argv_tools.without_flags(argv, drop)
    for flag, value in fixes.items():
        out += [flag] if value is None else [flag, value]
    return shlex.join(out)


def check_parsers(argv: list[str], config: dict | None) -> list[str]:
    """Refuse what vLLM would die of at start-up; return advice for what starts but cannot
    pass the suite's criteria (empty when the command is complete)."""
    if argv_tools.has_flag(argv, "--enable-auto-tool-choice") and \
            not argv_tools.flag_value(argv, "--tool-call-parser"):
        # vllm/entrypoints/openai/cli_args.py:366-367 (0.18.0): validate_parsed_serve_args
        raise PreflightError(
            "--enable-auto-tool-choice without --tool-call-parser: vLLM refuses to start "
            "(\"--enable-auto-tool-choice requires --tool-call-parser\"). For gpt-oss: "
            + corrected(argv, TOOL_FIX))
    if not is_gpt_oss(argv, config):
        return []
    for flag, right in GPT_OSS_PARSERS.items():
        given = argv_tools.flag_value(argv, flag)
        if given is None or given == right or argv_tools.has_flag(argv, PARSER_PLUGINS[flag]):
            continue
        raise PreflightError(
            f"{flag} {given!r} is not gpt-oss's parser: vLLM registers it as {right!r} (names "
            f"are case-sensitive; the deployment guide's 'GptOss' is not one) and dies at "
            f"start-up with KeyError. Corrected command: {corrected(argv, {flag: right})}")
    advice = []
    if not argv_tools.flag_value(argv, "--tool-call-parser"):
        advice.append(f"{NO_TOOL_PARSER}. Complete command: " + corrected(argv, TOOL_FIX))
    if not argv_tools.flag_value(argv, "--reasoning-parser"):
        advice.append(f"{NO_REASONING_PARSER}. Complete command: "
                      + corrected(argv, {"--reasoning-parser": "openai_gptoss"}))
    return advice


def preflight(argv: list[str], env: dict[str, str] | None = None) -> list[str]:
    """All checks for a launch: raises PreflightError for a launch that cannot work, returns
    advice (one line each) for a command that starts but cannot pass every criterion."""
    env = dict(os.environ) if env is None else env
    config = check_checkpoint(argv_tools.model_path(argv))
    check_vocab(config, env)
    return check_parsers(argv, config)
