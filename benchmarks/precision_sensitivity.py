"""How much weight noise each precision criterion catches, and how far healthy runs stay from
the bounds: the table in docs/precision.md.

For each SIGMA (default 0.005 0.01 0.02 0.05 0.1 0.3) the embedded canary is served in bfloat16
with seeded Gaussian noise of SIGMA x each tensor's std on every weight (`serve-embedded
--perturb`), with its pooling twin, and judged by the precision suite's own `verify` and `gates`
against the canary's float32 transformers reference (the embedded default's); then the healthy
bfloat16 server the same way, `--healthy N` times, each time started afresh. Every figure, its
verdict, the smallest SIGMA each criterion catches and the healthy runs' margins are printed and
written as JSON.

    .venv/bin/python benchmarks/precision_sensitivity.py [--sigmas 0.005,0.01] [--healthy 3]
        [--max-tokens 256] [--output sensitivity.json]

About 2.5 minutes per server pair on 2 cores (two starts, 57 prompts x 256 tokens); run it
alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path

from pytest_ascend_oss.embedded.model import MODEL_NAME, model_dir
from pytest_ascend_oss.embedded.serve import embedded_command
from pytest_ascend_oss.server.launcher import launch
from pytest_ascend_oss.suites.precision import hidden, run
from pytest_ascend_oss.thresholds import EMBEDDED_PROFILE, load

CRITERIA = ("token_match", "rouge_l", "perplexity", "hidden_cosine", "hidden_cosine_prompt")


@contextlib.contextmanager
def server_pair(sigma: float):
    """The perturbed (or healthy) canary and its pooling twin, always stopped."""
    stops = []
    try:
        urls = []
        for pooling in (False, True):
            argv, env = embedded_command(log=lambda m: None, perturb=sigma, max_model_len=4096)
            _, endpoint = launch(hidden.pooling_argv(argv) if pooling else argv,
                                 Path(tempfile.mkdtemp()), 600, env=env,
                                 on_start=stops.append, progress=lambda m: None)
            urls.append(endpoint.base_url)
        yield urls
    finally:
        for proc in stops:
            proc.stop()


def judge(sigma: float, reference: Path, max_tokens: int, profile) -> dict:
    started = time.monotonic()
    with server_pair(sigma) as (url, pooling_url):
        result = run.verify(url, MODEL_NAME, max_tokens=max_tokens, baseline_path=reference,
                            pooling_url=pooling_url, progress=lambda m: None)
    gates = run.gates(result, profile.values["precision"], profile.sources("precision"))
    return {"sigma": sigma, "wall_s": round(time.monotonic() - started, 1),
            "figures": {name: gates[name].value for name in CRITERIA},
            "passed": {name: gates[name].passed for name in CRITERIA},
            "bounds": {name: f"{gates[name].op} {gates[name].bound}" for name in CRITERIA},
            "perplexity_nll_diff_nats": result["perplexity_nll_diff_nats"],
            "hidden_min_token": result["hidden_state"].get("min")}


def margin(value: float, bound: str) -> float:
    op, number = bound.split()
    number = float(number)
    return (number - value) / number if op.startswith("<") else (value - number) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigmas", default="0.005,0.01,0.02,0.05,0.1,0.3")
    parser.add_argument("--healthy", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--output", default="precision_sensitivity.json")
    args = parser.parse_args()
    profile = load(None, EMBEDDED_PROFILE)
    reference = run.embedded_reference(model_dir(), MODEL_NAME, max_tokens=args.max_tokens)
    rows = []
    for sigma in [float(s) for s in args.sigmas.split(",")] + [0.0] * args.healthy:
        row = judge(sigma, reference, args.max_tokens, profile)
        rows.append(row)
        figures = "  ".join(f"{n}={row['figures'][n]:.5g}{'' if row['passed'][n] else '(FAIL)'}"
                            for n in CRITERIA)
        print(f"sigma {sigma:<6g} {figures}  nll_diff={row['perplexity_nll_diff_nats']:+.4f} "
              f"nats  ({row['wall_s']} s)", flush=True)
        Path(args.output).write_text(json.dumps({"reference": str(reference), "rows": rows},
                                                indent=1))
    perturbed = [r for r in rows if r["sigma"] > 0]
    print("\nsmallest SIGMA caught:")
    for name in CRITERIA:
        caught = [r["sigma"] for r in perturbed if not r["passed"][name]]
        print(f"  {name:22s} {min(caught) if caught else 'none of ' + args.sigmas}")
    healthy = [r for r in rows if r["sigma"] == 0]
    if healthy:
        print(f"\nhealthy bfloat16 runs ({len(healthy)}): closest margin to each bound")
        for name in CRITERIA:
            values = [r["figures"][name] for r in healthy]
            worst = min(margin(v, healthy[0]["bounds"][name]) for v in values)
            print(f"  {name:22s} {', '.join(f'{v:.5g}' for v in values)}  "
                  f"bound {healthy[0]['bounds'][name]}  margin {worst:.1%}  "
                  f"false fails {sum(not r['passed'][name] for r in healthy)}")


if __name__ == "__main__":
    main()
