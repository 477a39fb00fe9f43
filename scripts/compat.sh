#!/usr/bin/env bash
# The acceptance suite on the guide's vLLM: vLLM 0.18.0 (what vllm-ascend 0.18.0rc1 pins), CPU
# build, serving the embedded canary from .venv-vllm018 (scripts/vllm018.sh sets it up). CI runs
# the smoke, precision and accuracy suites here (the pooling twin included: vLLM 0.18 refuses
# the --pooler-config 'task' key newer vLLMs need); the full run, every suite:
#   COMPAT_MARKERS="smoke or precision or long_context or features or accuracy" \
#     scripts/compat.sh
# Results in results/vllm018/; figures in docs/compatibility.md. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/vllm018.sh
exec .venv-vllm018/bin/python -m pytest tests -m "${COMPAT_MARKERS:-smoke or precision or accuracy}" \
  --results-dir results/vllm018 --junitxml=results/vllm018/junit.xml "$@"
