"""Which argument of a currency or calendar call a canary can write, slot by slot:
``python -m pytest_ascend_oss.embedded.canary.slots A.safetensors [B ...]``.

A served capability report says a call is right or wrong; to train a canary that writes these
calls one needs to know which value it cannot find. This feeds each held-out request
(tool_requests.held_out_requests: wordings, titles and people never trained on), all three
features-suite tools offered, then the exact call, and takes float32 argmax over the whole
vocabulary at every token of the call's JSON (teacher forcing: each token is judged with the
right ones before it); with ``--suite``, the features suite's own copyable cases instead
(tool_requests.suite_requests, what stage 9 learnt by heart). A slot (``amount``,
``from_currency``, ``title``, ``start.time``, ``attendees[0]``, ...) counts as written when every one of its value's tokens is the argmax;
``structure`` is every other token of the JSON (keys, quotes, braces) and the tokens around it
(the analysis, the tool's name, ``<|call|>``). About 20 s per model on 2 cores.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch

from ...gptoss import harmony as h
from ...gptoss.tools import FUNCTIONS
from . import corpus, tool_requests


def _value_spans(call: str, arguments: dict) -> list[tuple[str, int, int]]:
    """(slot, start, end) character spans of each value inside ``call`` (compact JSON)."""
    spans, at = [], 0
    for slot, text in tool_requests.leaves(arguments):
        start = call.index(text, at)
        spans.append((slot, start, start + len(text)))
        at = start + len(text)
    return spans


def example(r: tool_requests.Request, rng: random.Random) -> tuple[list[int], int, list[str]]:
    """(ids, where the answer starts, the slot of each answer token)."""
    analysis = tool_requests.ANALYSIS[r.tool]
    prompt = corpus._preamble(rng, list(FUNCTIONS.values())) + h.user_turn(h.text(r.prompt))
    answer = h.tool_call(analysis, r.tool, r.call)
    enc = h.encoding()
    head = len(h.tool_call(analysis, r.tool, "x")) - len(h.text("x<|call|>"))
    spans = _value_spans(r.call, r.arguments)
    slots, offset = [], 0
    for i, t in enumerate(answer):
        if i < head:
            slots.append("structure")
            continue
        piece = enc.decode([t])
        start, offset = offset, offset + len(piece)
        slots.append(next((s for s, a, b in spans if start < b and offset > a), "structure"))
    return prompt + answer, len(prompt), slots


def measure(path: Path, requests: list[tool_requests.Request]) -> dict[str, tuple[int, int]]:
    """{slot: (written, tried)} over ``requests``; slots named per tool."""
    from safetensors.torch import load_file

    from .train import Canary

    torch.set_num_threads(2)
    model = Canary()
    model.load(load_file(str(path)))
    rng = random.Random(0)
    every = torch.arange(model.unembedding.shape[0])
    counts: dict[str, list[int]] = {}
    with torch.no_grad():
        rows = model.unembed(every)
        for r in requests:
            ids, start, slots = example(r, rng)
            hidden = model.hidden(torch.tensor([ids]), torch.arange(len(ids))[None])[0]
            guess = (hidden[start - 1:len(ids) - 1] @ rows.T).argmax(-1).tolist()
            right: dict[str, bool] = {}
            for slot, want, got in zip(slots, ids[start:], guess):
                right[slot] = right.get(slot, True) and want == got
            tool = "currency" if r.tool == "convert_currency" else "calendar"
            for slot, ok in right.items():
                c = counts.setdefault(f"{tool} {slot}", [0, 0])
                c[0] += ok
                c[1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(counts.items())}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--per-tool", type=int, default=20)
    parser.add_argument("--suite", action="store_true",
                        help="the features suite's copyable cases, not held-out requests")
    args = parser.parse_args(argv)
    requests = [r for tool in tool_requests.ANALYSIS for r in tool_requests.suite_requests(tool)] \
        if args.suite else tool_requests.held_out_requests(args.per_tool)
    results = {m: measure(m, requests) for m in args.models}
    slots = sorted({s for r in results.values() for s in r})
    print("| slot | " + " | ".join(m.stem for m in args.models) + " |")
    print("|---|" + "---|" * len(args.models))
    for s in slots:
        print(f"| {s} | " + " | ".join(
            "{}/{}".format(*results[m][s]) if s in results[m] else "-" for m in args.models) + " |")


if __name__ == "__main__":
    main()
