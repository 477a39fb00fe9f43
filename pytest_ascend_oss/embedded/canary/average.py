"""Average stored canaries' weights: ``python -m pytest_ascend_oss.embedded.canary.average
A.safetensors:0.5 B.safetensors:0.3 C.safetensors:0.2 --out F.safetensors``.

Fine-tunes of one canary on the same data kept trading one unseen city for another (stage 10,
docs/canary.md: each run fixed one of "Rio de Janeiro", "San Francisco", "Los Angeles" and broke
another), and a weighted average of such runs held all of them, as checkpoint averaging does for
larger models. Averaging is only meaningful between fine-tunes of one build: the inputs must
hold the same tensors, and the same trained vocabulary rows in the same order
(``canary.trained_ids``), or a row would be averaged with another token's.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def parse_weighted(spec: str) -> tuple[Path, float]:
    """``PATH:WEIGHT`` -> (path, weight); the error names the argument."""
    path, sep, weight = spec.rpartition(":")
    try:
        value = float(weight)
    except ValueError:
        value = None
    if not sep or not path or value is None or not 0 < value <= 1:
        raise argparse.ArgumentTypeError(
            f"{spec!r}: expected PATH:WEIGHT with a weight in (0, 1], e.g. s10b.safetensors:0.5")
    return Path(path), value


def average(states: list[dict], weights: list[float]) -> dict:
    """The weighted mean of each floating-point tensor; every other tensor (the trained ids)
    must be equal in all inputs and is kept."""
    import torch

    if abs(sum(weights) - 1.0) > 1e-6:
        raise ValueError(f"the weights sum to {sum(weights):g}, not 1")
    first = states[0]
    for i, state in enumerate(states[1:], 1):
        if set(state) != set(first):
            raise ValueError(f"input {i + 1} holds other tensors than input 1: "
                             f"{sorted(set(state) ^ set(first))[:5]}")
        for key, tensor in first.items():
            if state[key].shape != tensor.shape:
                raise ValueError(f"{key}: shape {tuple(state[key].shape)} in input {i + 1}, "
                                 f"{tuple(tensor.shape)} in input 1")
            if not tensor.is_floating_point() and not torch.equal(state[key], tensor):
                raise ValueError(f"{key} differs between input 1 and input {i + 1}: their rows "
                                 f"are other tokens', so averaging would mix them")
    return {key: (sum(w * s[key].float() for s, w in zip(states, weights)).to(tensor.dtype)
                  if tensor.is_floating_point() else tensor)
            for key, tensor in first.items()}


def main(argv=None) -> None:
    from safetensors.torch import load_file, save_file

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="+", type=parse_weighted, metavar="PATH:WEIGHT")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        merged = average([load_file(str(p)) for p, _ in args.inputs],
                         [w for _, w in args.inputs])
    except ValueError as e:
        parser.error(str(e))
    save_file(merged, str(args.out))
    print(f"{' + '.join(f'{w:g} x {p}' for p, w in args.inputs)} -> {args.out}")


if __name__ == "__main__":
    main()
