"""The value-lookup layer (layer 2), fitted on what the trained layers below it write.

Stage 7 found that fine-tuning cannot teach the two-layer canary to fill ``convert_currency``
and ``create_calendar_event`` calls: finding "the title", "the clock time" or "the target
currency" in the question is a lookup from the call's ``":"`` (after ``title``, ``time``,
``_currency``) to the value's first token in the question, and both layer-1 heads are induction
heads sharing one KV head, busy with retrieval (docs/canary.md, "Stage 7"). So the canary gets
a third layer, sliding-window as gpt-oss's alternation makes it (the question is a few dozen
tokens before the call), whose head 0 is wired here before any training:

* **Query and key** are fitted together, on the layer-2 input the trained layers below give
  (the previous tokens' identities in P1/P2, the token's own), with the attention pattern
  itself as the objective: from the token before a value in the call (``"title":"``), all
  attention on the value's first token in the question (after `` '``, `` at`` + `` ``, the
  amount...); everywhere else, all on the sink (cross-entropy over the window's keys and the
  sink; ``_fit_head``). Only RoPE pairs that hardly turn across the 128-token window carry
  them, so the match does not depend on how far back the value is. Resting on the sink where
  no value is asked keeps what the canary knew (the layer starts silent, circuit.silence);
  haystacks and the other conversations of the training mix are in the fit for that.
* **Value**: a ridge probe that reads, at a question token, the unembedding row of that token
  (at a value's start, of the token the call writes); the output projection adds it to the
  residual stream with a push towards no leading space (the question says " USD", the call
  ``"USD"``), so the unembedding then ranks the value's token high.

The language-model loss reaches this lookup only through everything above it, and stage 7
showed gradient descent does not find it that way; given it, training refines it (the same
recipe as circuit.py's hand wiring, with a fitted objective doing what hand algebra did
there). The value's later tokens ("Release" -> " party", "202" -> "8") are layer 1's induction
copying, as for cities.

``python -m pytest_ascend_oss.embedded.canary.lookup --init STAGE6 --out WIRED`` fits, wires,
reports how often the head attends to the right token on held-out requests, and saves.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import torch

from ...gptoss import harmony as h
from . import corpus, layout, slots, tool_requests
from .forward import attention_scores, residual_stream, rms_norm, rope_tables
from .train import CIRCUIT_LAYERS, LAYER_WINDOWS

LAYER = CIRCUIT_LAYERS   # the first layer after the hand-wired circuit's
PREFIX = f"model.layers.{LAYER}.self_attn."
SLOTS = ("amount", "from_currency", "to_currency", "title", "start.date", "start.time",
         "attendees[0]")
WINDOW = 128   # layer 2 is a sliding-window layer (gpt-oss alternates them)
# RoPE pairs 16..31 turn by under 0.06 rad across the window (layout.py), so what the head
# matches does not depend on how far back the value is; the faster pairs stay zero.
SLOW_PAIRS = tuple(range(16, 32))
RIDGE = 1e-2
POSITIVE_WEIGHT = 50.0   # a value starts at ~7 of ~400 positions; weigh those up in the fit
VALUE_WEIGHT = 10.0


def _in_question(ids: list[int], question: range, call_tokens: list[int]) -> int | None:
    """Where the value spelt by ``call_tokens`` starts in the question, or None: the run
    tool_requests.copied_at finds (the one that made the request copyable)."""
    enc = h.encoding()
    spelt = lambda tokens: [enc.decode([t]) for t in tokens]
    j = tool_requests.copied_at(spelt(ids[question.start:question.stop]), spelt(call_tokens))
    return None if j is None else question.start + j


def labelled(r: tool_requests.Request, rng: random.Random):
    """(ids, {slot: (query position, key position, call token)}, the question's positions)
    for one request."""
    ids, start, token_slots = slots.example(r, rng)
    question = range(start - len(h.user_turn(h.text(r.prompt))), start)
    spans: dict[str, list[int]] = {}   # a slot's tokens are one run in the call
    for i, s in enumerate(token_slots):
        spans.setdefault(s, []).append(start + i)
    found = {}
    for s in SLOTS:
        if s in spans:
            first = spans[s][0]
            j = _in_question(ids, question, [ids[i] for i in spans[s]])
            if j is not None:
                found[s] = (first - 1, j, ids[first])
    return ids, found, question


def _layer_input(model, ids: list[int], norm_weight: torch.Tensor | None = None) -> torch.Tensor:
    """What layer 2's attention reads: the residual after layers 0-1, RMS-normed with
    ``norm_weight`` (1 when wiring, which sets that weight to 1)."""
    p = model.params()
    x = residual_stream(p, model.embed(torch.tensor([ids])), torch.arange(len(ids))[None],
                        model.inv_freq, model.attention_scaling, LAYER_WINDOWS[:LAYER])
    return rms_norm(x, torch.ones(layout.HIDDEN) if norm_weight is None else norm_weight)[0]


def _ridge(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Weighted ridge regression with a bias: (HIDDEN + 1, outputs)."""
    x1 = torch.cat([x, torch.ones(len(x), 1)], dim=1).double()
    xw = x1 * w[:, None].double()
    a = x1.T @ xw + RIDGE * len(x) / w.sum().double() * torch.eye(x1.shape[1], dtype=torch.double)
    return torch.linalg.solve(a, xw.T @ y.double()).float()


def collect(model, requests: int, seed: int, negatives: int = 0):
    """Per sequence: (layer-2 input, {query position: key position}), for ``requests``
    training requests per tool and ``negatives`` conversations and haystacks of the training
    mix (nothing asked); and the value probe's data (inputs at the keys, the call's tokens)."""
    rng = random.Random(seed)
    words = corpus.RandomWords()
    sequences, values, value_rows, value_weights = [], [], [], []
    with torch.no_grad():
        for i in range(2 * requests):
            tool = "convert_currency" if i % 2 == 0 else "create_calendar_event"
            r = tool_requests.training_request(rng, tool, words)
            ids, found, question = labelled(r, rng)
            x = _layer_input(model, ids)
            sequences.append((x, {qi: (SLOTS.index(s), kj) for s, (qi, kj, _) in found.items()}))
            # The value probe reads any question token's identity (most values are words never
            # trained on); at a value's start, the token the call writes, weighed up.
            calls = {kj: token for _, kj, token in found.values()}
            for j in question:
                values.append(x[j])
                value_rows.append(calls.get(j, ids[j]))
                value_weights.append(VALUE_WEIGHT if j in calls else 1.0)
        for i in range(negatives):   # half haystacks: where misfiring would cost most
            e = (corpus.haystack_example(rng, words, 1024, corpus.STAGE7) if i % 2 == 0
                 else corpus.short_example(rng, words, corpus.STAGE7))
            sequences.append((_layer_input(model, e.ids), {}))
    return sequences, torch.stack(values), torch.tensor(value_rows), torch.tensor(value_weights)


class _Head(torch.nn.Module):
    """Head 0's query and key over the slow RoPE pairs, scored as layer 2 scores them."""

    def __init__(self, inv_freq: torch.Tensor, attention_scaling: float):
        super().__init__()
        self.q = torch.nn.Linear(layout.HIDDEN, 64)
        self.k = torch.nn.Linear(layout.HIDDEN, 64)
        self.sink = torch.nn.Parameter(torch.zeros(()))
        mask = torch.zeros(64)
        mask[list(SLOW_PAIRS) + [p + 32 for p in SLOW_PAIRS]] = 1.0
        self.register_buffer("mask", mask)
        self.inv_freq, self.scaling = inv_freq, attention_scaling
        for lin in (self.q, self.k):
            torch.nn.init.normal_(lin.weight, std=0.02)
            torch.nn.init.zeros_(lin.bias)

    def params(self) -> dict[str, torch.Tensor]:
        """The head as attention weights: only the slow pairs carry anything."""
        return {"q_proj.weight": self.q.weight * self.mask[:, None],
                "q_proj.bias": self.q.bias * self.mask,
                "k_proj.weight": self.k.weight * self.mask[:, None],
                "k_proj.bias": self.k.bias * self.mask, "sinks": self.sink.view(1)}

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """(T, T + 1) attention logits of head 0 for one sequence, the sink last."""
        cos, sin = rope_tables(torch.arange(len(x))[None], self.inv_freq, self.scaling)
        return attention_scores(self.params(), "", x[None], cos, sin, WINDOW, heads=1)[0, 0]


def _fit_head(inv_freq, attention_scaling, sequences, steps: int, log=print) -> _Head:
    """Fit head 0 so that where a slot's value is asked it attends to that value's first
    token in the question, and everywhere else to its sink (cross-entropy over the keys in
    the window and the sink). A direct objective for the lookup: the language-model loss
    reaches it only through everything above it, which stage 7 showed is not enough."""
    head = _Head(inv_freq, attention_scaling)
    optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)
    gen = random.Random(0)
    for step in range(steps):
        batch = gen.sample(sequences, min(16, len(sequences)))
        loss = torch.zeros(())
        for x, asked in batch:
            logp = torch.log_softmax(head.scores(x), dim=-1)
            target = torch.full((len(x),), len(x), dtype=torch.long)   # the sink
            weight = torch.ones(len(x))
            for qi, (_, kj) in asked.items():
                target[qi] = kj
                weight[qi] = POSITIVE_WEIGHT
            nll = -logp.gather(1, target[:, None])[:, 0]
            loss = loss + (nll * weight).sum() / weight.sum()
        optimizer.zero_grad()
        (loss / len(batch)).backward()
        optimizer.step()
        if (step + 1) % 50 == 0:
            log(f"lookup fit step {step + 1}: loss {loss.item() / len(batch):.4f}")
    return head


def wire(model, requests: int = 600, seed: int = 8, negatives: int = 300, steps: int = 400,
         log=print) -> None:
    """Fit head 0 and the value probe on training requests and write them into layer 2."""
    sequences, xv, rows, value_weights = collect(model, requests, seed, negatives)
    head = _fit_head(model.inv_freq, model.attention_scaling, sequences, steps, log)
    with torch.no_grad():
        target = model.unembed(rows)
    width = layout.ID.stop - layout.ID.start
    wanted = torch.cat([target[:, layout.ID], target[:, layout.SPACE_DIM:layout.SPACE_DIM + 1]], 1)
    wv = _ridge(xv, wanted, value_weights)
    p = model.params()
    with torch.no_grad():
        for name in ("q_proj", "k_proj", "v_proj", "o_proj"):
            p[PREFIX + name + ".weight"].zero_()
            p[PREFIX + name + ".bias"].zero_()
        for name, value in head.params().items():
            if name != "sinks":
                p[PREFIX + name][:64] = value
        p[PREFIX + "v_proj.weight"][:width + 1] = wv[:-1].T
        p[PREFIX + "v_proj.bias"][:width + 1] = wv[-1]
        # A constant the output projection turns into "no leading space": the question spells
        # " USD", " C" + "NY" with a space, the call after '":"' without (set_copy_gain).
        p[PREFIX + "v_proj.bias"][width + 1] = 1.0
        p[PREFIX + "sinks"][0] = head.sink
        p[PREFIX + "sinks"][1] = 30.0   # head 1 unused: all on its sink
        p[f"model.layers.{LAYER}.input_layernorm.weight"].fill_(1.0)
    set_copy_gain(model, 1.0)


def set_copy_gain(model, gain: float) -> None:
    """Scale what head 0 adds to the residual stream (the output projection's identity)."""
    width = layout.ID.stop - layout.ID.start
    o = model.params()[PREFIX + "o_proj.weight"]
    with torch.no_grad():
        o[layout.ID, :width] = gain * torch.eye(width)
        o[layout.SPACE_DIM, width] = gain
        o[layout.SPACE_DIM, width + 1] = -gain


def attends(model, per_tool: int = 20) -> dict[str, tuple[int, int]]:
    """{slot: (right, asked)}: how often head 0's strongest key, where a held-out request's
    call asks for a slot's first token, is that value's first token in the question."""
    p = model.params()
    rng = random.Random(0)
    counts: dict[str, list[int]] = {}
    with torch.no_grad():
        for r in tool_requests.held_out_requests(per_tool):
            ids, found, _ = labelled(r, rng)
            x = _layer_input(model, ids, p[f"model.layers.{LAYER}.input_layernorm.weight"])
            cos, sin = rope_tables(torch.arange(len(ids))[None], model.inv_freq,
                                   model.attention_scaling)
            scores = attention_scores(p, PREFIX, x[None], cos, sin, WINDOW)
            weights = torch.softmax(scores, dim=-1)[0, 0, :, :-1]   # head 0: (T, T)
            for s, (qi, kj, _) in found.items():
                c = counts.setdefault(s, [0, 0])
                c[0] += int(weights[qi].argmax()) == kj and float(weights[qi, kj]) > 0.5
                c[1] += 1
    return {s: (c[0], c[1]) for s, c in counts.items()}


def main(argv=None) -> None:
    from safetensors.torch import load_file

    from .train import Canary, save

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--init", type=Path, required=True, help="a stored canary (2 layers)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--requests", type=int, default=600, help="training requests per tool")
    parser.add_argument("--steps", type=int, default=400, help="steps fitting head 0")
    parser.add_argument("--negatives", type=int, default=300,
                        help="conversations and haystacks where no value is asked")
    parser.add_argument("--copy-gain", type=float, default=4.0)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    model = Canary()
    model.load(load_file(str(args.init)))
    wire(model, args.requests, negatives=args.negatives, steps=args.steps,
         log=lambda m: print(m, flush=True))
    set_copy_gain(model, args.copy_gain)
    for s, (right, asked) in attends(model).items():
        print(f"attends to {s}: {right}/{asked}", flush=True)
    save(model, args.out)
    print(f"saved {args.out}", flush=True)


if __name__ == "__main__":
    main()
