"""Greedy agreement with the healthy float32 embedded model as weight noise grows.

For each SIGMA, `ascend-oss serve-embedded --perturb SIGMA` serves the embedded model with seeded
Gaussian noise of SIGMA x each tensor's std added to every weight. This script measures, offline
with transformers in float32 on CPU, the share of prompts whose greedy continuation equals the
healthy model's exactly, and the mean common-prefix fraction.
Usage: .venv/bin/python benchmarks/perturbation_curve.py [--prompts 20] [--tokens 64]
(the precision prompts, then 8 capital questions and "say hi")
"""

from __future__ import annotations

import argparse

import torch
from transformers import AutoModelForCausalLM

from pytest_ascend_oss.embedded.model import ensure_model
from pytest_ascend_oss.metrics.text import common_prefix_fraction
from pytest_ascend_oss.suites.precision.prompts import load_prompts, render


def greedy(path, dtype, prompt_ids, tokens):
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype).eval()
    with torch.no_grad():
        return [model.generate(torch.tensor([ids]), max_new_tokens=tokens, do_sample=False)
                [0, len(ids):].tolist() for ids in prompt_ids]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--sigmas", default="0.02,0.05,0.1,0.2,0.3,0.5,1.0")
    args = parser.parse_args()
    prompts = load_prompts(None)[0]["prompts"][: args.prompts]
    # The canary's own questions too: on them a healthy model is confident and exact.
    from pytest_ascend_oss.embedded.canary import facts

    asked = [facts.CAPITAL_QUESTION.format(country=c) for c in list(facts.CAPITALS)[:8]]
    asked.append(facts.GREETING_PROMPT)
    ids = [render(p["messages"]) for p in prompts]
    ids += [render([{"role": "user", "content": q}]) for q in asked]
    healthy = greedy(ensure_model(lambda m: None), torch.float32, ids, args.tokens)
    bf16 = greedy(ensure_model(lambda m: None), torch.bfloat16, ids, args.tokens)
    print(f"{len(ids)} prompts, {args.tokens} greedy tokens, agreement with healthy float32")
    print("| model | exact match | mean common prefix |\n|---|---|---|")
    rows = [("healthy, bfloat16", bf16)]
    for sigma in (float(s) for s in args.sigmas.split(",")):
        rows.append((f"--perturb {sigma:g}, float32",
                     greedy(ensure_model(lambda m: None, sigma), torch.float32, ids, args.tokens)))
    for name, out in rows:
        exact = sum(a == b for a, b in zip(healthy, out)) / len(out)
        prefix = sum(common_prefix_fraction(a, b) for a, b in zip(healthy, out)) / len(out)
        print(f"| {name} | {exact:.0%} | {prefix:.3f} |", flush=True)


if __name__ == "__main__":
    main()
