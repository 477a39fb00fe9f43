"""How far each greedy token leads its rival on the precision suite's prompts, per stored
canary: ``python -m pytest_ascend_oss.embedded.canary.leads A.safetensors B.safetensors ...``.

The precision gates compare the served bf16 greedy ids with float32 ones, and a prompt parts
where a float32 token leads the next by less than bf16's rounding moves it. Every fine-tune
since stage 2 kept its training answers near 100 % while parting on 2 to 7 of the 57 prompts;
the leads measured here showed why (stage 5: a tenth of the prompts led by under 0.1 logit at
some token, stage 2 by 0.43) and ranked stage 6's candidates in about a minute each, against
about six for a served ``ascend-oss capabilities`` (docs/canary.md, stage 6). The prompts are
only measured here, never trained on (test_client_questions_hold_out_the_precision_prompts).
"""

from __future__ import annotations

import argparse
from pathlib import Path

THIN = 0.25   # a lead below this many logits is one bf16 serving has been seen to flip


def greedy_leads(model, ids: list[int], max_tokens: int) -> tuple[list[int], list[float]]:
    """float32 greedy over the whole vocabulary: the tokens and each one's lead over the
    runner-up (recomputing the prefix each step; the canary is small enough)."""
    import torch

    from ...gptoss.harmony import STOP_IDS

    seq, out, leads = list(ids), [], []
    with torch.no_grad():   # a measurement: no graph kept for 64 recomputed prefixes
        rows = model.unembed(torch.arange(model.row_of.numel()))
        for _ in range(max_tokens):
            hidden = model.hidden(torch.tensor([seq]), torch.arange(len(seq))[None])
            top = (hidden[0, -1] @ rows.T).topk(2)
            token = int(top.indices[0])
            out.append(token)
            leads.append(float(top.values[0] - top.values[1]))
            if token in STOP_IDS:
                break
            seq.append(token)
    return out, leads


def measure(path: Path, max_tokens: int = 64, limit: int | None = None) -> dict:
    import torch
    from safetensors.torch import load_file

    from ...gptoss import harmony as h
    from ...suites.precision import prompts
    from . import train

    torch.set_num_threads(2)
    model = train.Canary()
    model.load(load_file(str(path)))
    model.eval()
    prompt_set, _ = prompts.load_prompts(None)
    rows = []
    for p in prompt_set["prompts"][:limit]:
        tokens, leads = greedy_leads(model, prompts.render(p["messages"]), max_tokens)
        rows.append({"id": p["id"], "thinnest": min(leads), "at": leads.index(min(leads)),
                     "tokens": len(tokens), "text": h.encoding().decode(tokens)})
    thinnest = sorted(r["thinnest"] for r in rows)
    return {"model": str(path), "prompts": len(rows),
            "thin": sum(t < THIN for t in thinnest),
            "p10": thinnest[len(thinnest) // 10], "median": thinnest[len(thinnest) // 2],
            "rows": sorted(rows, key=lambda r: r["thinnest"])}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--tokens", type=int, default=64, help="greedy tokens per prompt "
                        "(capabilities' greedy comparison uses 64)")
    parser.add_argument("--show", type=int, default=5, help="thinnest prompts listed per model")
    args = parser.parse_args(argv)
    for path in args.models:
        r = measure(path, args.tokens)
        print(f"{path}: {r['thin']}/{r['prompts']} prompts lead by < {THIN} logit somewhere; "
              f"thinnest lead p10 {r['p10']:.2f}, median {r['median']:.2f}", flush=True)
        for row in r["rows"][:args.show]:
            print(f"  {row['thinnest']:6.2f} at token {row['at']:<3} {row['id']:20} "
                  f"{row['text'][-80:]!r}", flush=True)


if __name__ == "__main__":
    main()
