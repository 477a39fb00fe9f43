"""Screen stored canaries side by side before serving them: ``python -m
pytest_ascend_oss.embedded.canary.screen A.safetensors B.safetensors ...``.

For each model, the exact-answer count under teacher forcing on the same haystacks (single
needle, keyed needles, no needle), as written and with their filler weighing 8 and 64 times
as much in the full-attention layer (forward.hidden_states' ``log_copies``: what a 16K and a
128K context weigh there). About four minutes for five models on 2 cores, against about
fifteen for a served ``ascend-oss capabilities``; it ranks candidates, the served report is
what a canary is shipped on (docs/canary.md has both for the shipped one).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

KINDS = ("single", "keyed", "none")
WEIGHTS = (1, 8, 64)   # how many times each filler token counts (corpus.STRETCHES' range)


def screen(paths: list[Path], n: int, length: int = 2048, progress=print) -> dict:
    import torch
    from safetensors.torch import load_file

    from . import corpus, train

    torch.set_num_threads(2)
    words = corpus.RandomWords()
    models = []
    for path in paths:
        model = train.Canary()
        model.load(load_file(str(path)))
        models.append(model.eval())
    gen = torch.Generator().manual_seed(0)
    result: dict = {}
    for stretch in WEIGHTS:
        for kind in KINDS:
            rng = random.Random(1000 + stretch)   # the same haystacks for every model
            examples = [corpus._haystack_example(rng, words, length, kind, corpus.STAGE2, stretch)
                        for _ in range(n)]
            row = []
            for model in models:
                exact = 0
                with torch.no_grad():
                    for i in range(0, n, 4):
                        _, per = train.loss_and_accuracy(model, examples[i:i + 4], 2048, gen)
                        exact += sum(ok for _, ok, _ in per)
                row.append(exact)
            result[f"x{stretch} {kind}"] = row
            progress(f"x{stretch:<3} {kind:7} " + "  ".join(f"{e}/{n}" for e in row))
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--n", type=int, default=24, help="haystacks per kind and weight")
    args = parser.parse_args(argv)
    print("rows: filler weight and kind; columns: " + ", ".join(p.name for p in args.models))
    screen(args.models, args.n)


if __name__ == "__main__":
    main()
