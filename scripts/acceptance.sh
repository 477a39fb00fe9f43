#!/usr/bin/env bash
# README command 1: set up, then run the acceptance suite (tests/) against the embedded default:
# a real vLLM CPU server with a tiny GPT-OSS model, started and torn down by the plugin.
# Extra arguments go to pytest, e.g. `scripts/acceptance.sh -m smoke`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest tests --junitxml=results/junit.xml "$@"
