"""The host record (server/environment.py) read as CANN, torch_npu and vllm-ascend publish
their versions; a simulated Ascend host's files and modules, no NPU needed."""

from __future__ import annotations

import sys
import types

import pytest

from pytest_ascend_oss.server import environment as env

# CANN 8.5.1's install-info file as vllm-ascend issue #8463 shows it (a "version=" line among
# others, the real install under /usr/local/Ascend/cann-8.5.1).
INSTALL_INFO = "package_name=Ascend-cann-toolkit\nversion=8.5.1\ninnerversion=V100R001C25\n" \
               "arch=x86_64\nos=linux\npath=/usr/local/Ascend/cann-8.5.1\n"


def _fake_torch_npu(monkeypatch, torch_version_cann=None, api=""):
    torch = types.ModuleType("torch")
    torch.version = types.SimpleNamespace(cann=torch_version_cann)
    torch_npu = types.ModuleType("torch_npu")
    torch_npu.utils = types.SimpleNamespace(get_cann_version=lambda module="CANN": api)
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch_npu", torch_npu)


def test_cann_from_torch_version_first(monkeypatch):
    _fake_torch_npu(monkeypatch, torch_version_cann="8.5.1", api="8.3.RC1")
    assert env.cann_version(True, {}) == ("8.5.1", "torch.version.cann")


def test_cann_from_torch_npus_documented_call_next(monkeypatch):
    _fake_torch_npu(monkeypatch, api="8.5.1")
    assert env.cann_version(True, {}) == ("8.5.1", "torch_npu.utils.get_cann_version()")


def test_cann_from_a_non_default_toolkit_named_by_its_variable(monkeypatch, tmp_path):
    _fake_torch_npu(monkeypatch)  # an old CANN: get_cann_version() answers ""
    info = tmp_path / "x86_64-linux" / "ascend_toolkit_install.info"
    info.parent.mkdir()
    info.write_text(INSTALL_INFO)
    found = env.cann_version(True, {"ASCEND_HOME_PATH": str(tmp_path)})
    assert found == ("8.5.1", str(info))


def test_no_cann_is_said_as_none(monkeypatch, tmp_path):
    monkeypatch.setattr(env, "DEFAULT_TOOLKIT", str(tmp_path / "none"))
    assert env.cann_version(False, {}) == (None, None)


def test_driver_version(tmp_path):
    info = tmp_path / "version.info"
    info.write_text("Version=24.1.0.3\nascendhal_version=7.35.23\n")
    assert env.driver_version(str(info)) == "24.1.0.3"
    assert env.driver_version(str(tmp_path / "missing")) is None
    # no version file (a container mounting only the tools): npu-smi's header, issue #1767
    header = ("+----------------------------------------------------------------------------+\n"
              "| npu-smi 24.1.0.3                 Version: 24.1.0.3                          |\n")
    assert env.driver_version(str(tmp_path / "missing"), smi=header) == "24.1.0.3"


@pytest.mark.parametrize(("version", "build"), [
    ("0.18.0rc1", None), ("0.23.0.post1", None), (None, None),
    ("0.1.dev2922+gbb3f938cb", "built from source at git bb3f938cb"),  # vllm-ascend #9806
])
def test_source_builds_of_vllm_ascend_are_named(version, build):
    assert env.source_build(version) == build


def test_a_tagless_zero_version_is_a_source_build(monkeypatch):
    monkeypatch.setattr(env, "_git_describe", lambda package: "git describe 3c1f0a2")
    assert env.source_build("0.0.0") == "built from source (git describe 3c1f0a2)"


def test_software_problems_hold_the_guides_minimums():
    host = {"cann": "8.5.1", "torch": "2.8.0", "torch_npu": "2.9.0", "vllm_ascend": "0.0.0",
            "vllm_ascend_build": "built from source"}
    problems = env.software_problems(host)
    assert set(problems) == {"torch", "vllm_ascend"}
    assert problems["torch"] == "2.8.0 < 2.9.0"
    assert "not comparable with 0.18.0rc1" in problems["vllm_ascend"]
    assert env.software_problems({"cann": "8.5.1", "torch": "2.9.0", "torch_npu": "2.9.0.post1",
                                  "vllm_ascend": "0.18.0rc1"}) == {}


def test_the_variables_that_decide_ascend_behaviour_are_recorded_secrets_hidden():
    environ = {"ASCEND_RT_VISIBLE_DEVICES": "0,1", "HCCL_OP_EXPANSION_MODE": "AIV",
               "PYTORCH_NPU_ALLOC_CONF": "expandable_segments:True", "TASK_QUEUE_ENABLE": "1",
               "TIKTOKEN_ENCODINGS_BASE": "/vocab", "VLLM_API_KEY": "sk-123", "HOME": "/root"}
    recorded = env.recorded_environment(environ)
    assert recorded["ASCEND_RT_VISIBLE_DEVICES"] == "0,1" and "HOME" not in recorded
    assert recorded["VLLM_API_KEY"] == "<hidden>"
    assert set(recorded) == set(environ) - {"HOME"}
