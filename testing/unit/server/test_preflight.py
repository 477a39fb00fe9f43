"""The command a user gives, checked before launch: what vLLM would die of is refused with the
corrected command; what starts but cannot pass the suite's criteria is advised, one line each."""

from __future__ import annotations

import json
import shlex

import pytest

from pytest_ascend_oss.server import preflight as pf

GUIDE = "vllm serve /models/gpt-oss-20b --dtype bfloat16 --max-model-len 131072"
COMPLETE = (GUIDE + " --reasoning-parser openai_gptoss --tool-call-parser openai "
            "--enable-auto-tool-choice")


def _gpt_oss_dir(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt_oss"}))
    return tmp_path


def test_the_complete_command_gets_no_advice():
    assert pf.check_parsers(shlex.split(COMPLETE), None) == []


def test_the_guides_parser_name_is_refused_with_the_registered_one():
    """The guide's matrix says `--reasoning-parser GptOss`; vLLM registers `openai_gptoss`
    (vllm/reasoning/__init__.py) and raises KeyError at start-up for anything else."""
    argv = shlex.split(COMPLETE.replace("openai_gptoss", "GptOss"))
    with pytest.raises(pf.PreflightError) as err:
        pf.check_parsers(argv, None)
    message = str(err.value)
    assert "'GptOss'" in message and "'openai_gptoss'" in message
    fixed = shlex.split(message.split("Corrected command: ")[1])
    assert fixed.count("--reasoning-parser") == 1 and "GptOss" not in fixed
    assert pf.check_parsers(fixed, None) == []  # the corrected command passes


def test_a_wrong_tool_parser_is_refused_unless_a_plugin_names_it():
    argv = shlex.split(COMPLETE.replace("--tool-call-parser openai", "--tool-call-parser=hermes"))
    with pytest.raises(pf.PreflightError, match="'hermes' is not gpt-oss's parser"):
        pf.check_parsers(argv, None)
    assert pf.check_parsers([*argv, "--tool-parser-plugin", "/x/my_parser.py"], None) == []


def test_auto_tool_choice_without_a_parser_is_refused_as_vllm_would():
    argv = shlex.split(GUIDE + " --enable-auto-tool-choice")
    with pytest.raises(pf.PreflightError, match="requires --tool-call-parser"):
        pf.check_parsers(argv, None)


def test_a_command_without_the_tool_parser_is_advised_with_the_complete_command(tmp_path):
    model = _gpt_oss_dir(tmp_path)
    argv = ["vllm", "serve", str(model), "--dtype", "bfloat16"]
    advice = pf.check_parsers(argv, {"model_type": "gpt_oss"})
    assert len(advice) == 2
    tools, reasoning = advice
    assert "drops gpt-oss's tool calls" in tools
    complete = shlex.split(tools.split("Complete command: ")[1])
    assert complete[-3:] == ["--tool-call-parser", "openai", "--enable-auto-tool-choice"]
    assert "--reasoning-parser openai_gptoss" in reasoning


def test_other_models_are_not_held_to_gpt_oss_parsers(tmp_path):
    argv = ["vllm", "serve", "/models/qwen3", "--reasoning-parser", "qwen3"]
    assert pf.check_parsers(argv, {"model_type": "qwen3"}) == []
    assert pf.check_parsers(argv, None) == []  # no config: the name decides


def test_preflight_returns_the_advice_of_a_launch_that_starts(tmp_path):
    model = _gpt_oss_dir(tmp_path)
    (tmp_path / "vocab").mkdir()
    argv = ["vllm", "serve", str(model)]
    env = {"TIKTOKEN_ENCODINGS_BASE": ""}
    with pytest.raises(pf.PreflightError, match="TIKTOKEN_ENCODINGS_BASE"):
        pf.preflight(argv, env)  # the vocab check still comes first
    assert pf.preflight(["vllm", "serve", "/nowhere/gpt-oss-20b"], {}) != []
