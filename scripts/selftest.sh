#!/usr/bin/env bash
# README command 2: set up, then run the project's own tests (testing/), which include one
# end-to-end run of the smoke suite against the embedded server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/browser.sh  # report.html is checked in a real headless Chromium
# --durations: the slowest tests in every CI log, for whoever trims its time next
exec .venv/bin/python -m pytest testing --durations=25 "$@"
