#!/usr/bin/env bash
# Launch mode on a simulated 8-card Atlas host, end to end: `pytest -m "features or precision"`
# with --devices 0-7 (every extra server on cards of its own) and with --devices 0 (the server
# under test steps aside for each extra server; TP / PP / EP never fit: not measured). The
# stand-ins are testing/fakes/atlas.py: an npu-smi that shows the cards each server claims and
# a `vllm` that refuses a claimed card with vllm-ascend's own message, else becomes the real
# vLLM CPU serving the canary with the user's flags (FAKE_ATLAS_BACKEND=embedded).
#
#   benchmarks/atlas_rehearsal.sh [OUT_DIR]      (about 22 minutes on 2 cores)
#   REHEARSAL_DEVICES=0 benchmarks/atlas_rehearsal.sh   (the one-card run only)
#
# Prints, per run: the verdict counts, each server's cards, the stepping aside and its cost,
# and the wall time; everything else is in OUT_DIR/devices-*/ (results.json, report.html).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
source .venv/bin/activate
out=$(realpath -m "${1:-results/atlas-rehearsal}")
mkdir -p "$out"
bin=$(python testing/fakes/atlas.py install "$out/host" 8)
export PATH="$bin:$PATH" FAKE_ATLAS_BACKEND=embedded FAKE_RELEASE_S=3
unset ASCEND_RT_VISIBLE_DEVICES
model_dir=$(python -c 'from pytest_ascend_oss.embedded.model import ensure_model
print(ensure_model(lambda m: None))')
# The reference the guide asks for: the served checkpoint in float32 (here the canary's).
baseline="$out/reference-fp32.json.gz"
[ -f "$baseline" ] || ascend-oss record-reference --checkpoint "$model_dir" \
    --model gpt-oss-20b --output "$baseline"
command="vllm serve /models/gpt-oss-20b --dtype bfloat16 --tool-call-parser openai \
--enable-auto-tool-choice --reasoning-parser openai_gptoss"
for devices in ${REHEARSAL_DEVICES:-0-7 0}; do
    results="$out/devices-$devices"
    started=$(date +%s)
    pytest -m "features or precision" -p no:cacheprovider --server-cmd "$command" \
        --profile cpu-canary --baseline "$baseline" --checkpoint "$model_dir" \
        --devices "$devices" --results-dir "$results" --junitxml "$results/junit.xml" \
        -q -rfEs > "$results.log" 2>&1 || true
    took=$(( $(date +%s) - started ))
    echo "== --devices $devices: $took s =="
    tail -n 1 "$results.log"
    python - "$results/results.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
plan = data.get("devices") or {}
print(f"server under test on {plan.get('server')}")
for loan in plan.get("extra_servers", []):
    print(f"  {loan['server']}: cards {loan.get('cards')}"
          + (f", released after {loan['released'].get('waited_s')} s"
             if loan.get("released") else ""))
for step in plan.get("server_stepped_aside", []):
    print(f"  stepped aside for {step['for']} ({', '.join(step.get('servers', []))}): "
          f"stopped {step.get('server_stopped_s')} s, back {step.get('server_back_s')} s, "
          f"cost {step.get('cost_s')} s")
refused = [n for n, t in data.get("tests", {}).items()
           if "Free memory on device" in json.dumps(t)]
print(f"  tests that met a busy card: {len(refused)}")
PY
done
