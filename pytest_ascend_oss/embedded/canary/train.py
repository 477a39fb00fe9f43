"""Train the canary: ``python -m pytest_ascend_oss.embedded.canary.train [--minutes M] [--out F]``.

Starts from the seeded vocabulary (layout.py) and the hand-wired circuit (circuit.py), trains
every non-embedding weight plus the embedding and unembedding rows of the structural tokens
(harmony markup, system prompt, digits, the answer templates, the facts), and writes those
trained tensors, about 1 M values, to ``canary.safetensors``. The model builder regenerates
the other 200,000 rows from the seed. Progress (loss, per-task exact-answer accuracy) is
printed every 10 steps; a checkpoint is written every 50 steps, so an interrupted run keeps
its progress (``--resume``).

The shipped canary took two stages (docs/canary.md): ``--steps 800`` from the wiring, then
``--init STAGE1 --stage2 --lr 3e-4 --steps 465``, which fine-tunes at full length on harder
haystacks (corpus.STAGE2). Stages 3 and 4 (``--stage3 --stretched 0.5``, then with
``--tool-variety 0.6``) taught conversations, the turn after a tool's result and tool wordings
on haystacks weighing up to 128K; they were measured and not shipped (thin margins: the
precision suite failed them). Stage 5 (``--margin 3``: a hinge on each answer token's lead over
its best rival) and its settling (``--stage5-settle``) did not widen the margins where the
precision prompts need them either (docs/canary.md).

Since stage 8 the build has three layers (``LAYER_WINDOWS``): the third, a value-lookup layer,
starts silent and is wired by lookup.py. A stored two-layer canary loads with it silent, so
every fine-tune above starts from what was shipped; a run from the wiring (stage 1) now trains
the silent third layer too, so the shipped two-layer weights are reproduced at commit c16b7d4.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ...gptoss import harmony as h
from ...gptoss.tools import FUNCTIONS, WEATHER_FUNCTION
from . import circuit, corpus, facts, layout, tool_requests
from .forward import hidden_states

DEFAULT_OUT = Path(__file__).with_name("canary.safetensors")
TRAIN_SEED = 7
LAYER_WINDOWS = (128, None, 128)


def config(layers: int = len(LAYER_WINDOWS)):
    from transformers import GptOssConfig

    from ...gptoss.harmony import BOS_ID, PAD_ID, STOP_IDS
    from ..model import ARCH

    return GptOssConfig(**ARCH, num_hidden_layers=layers, bos_token_id=BOS_ID,
                        eos_token_id=STOP_IDS, pad_token_id=PAD_ID, tie_word_embeddings=False)


def rope(cfg) -> tuple[torch.Tensor, float]:
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    inv_freq, scaling = ROPE_INIT_FUNCTIONS[cfg.rope_parameters["rope_type"]](cfg)
    return inv_freq.float(), float(scaling)


def structural_tokens() -> list[int]:
    """Ids whose rows are trained: everything the canary reads as structure or ever says."""
    rng = random.Random(0)
    ids: set[int] = set()
    for _ in range(64):
        ids.update(corpus._preamble(rng, [WEATHER_FUNCTION] if rng.random() < 0.5 else []))
    strings = [facts.NEEDLE, facts.QUESTION, facts.ANSWER, facts.NO_CODE_ANALYSIS,
               facts.NO_CODE_FINAL, facts.KEYED_NEEDLE, facts.KEYED_QUESTION, facts.KEYED_ANSWER,
               facts.CAPITAL_QUESTION, facts.CAPITAL_ANSWER, facts.GREETING_PROMPT, "Say hi",
               "say hi!", "Please say hi.", facts.GREETING_ANALYSIS, facts.GREETING,
               *facts.WEATHER_QUESTIONS, facts.WEATHER_ANALYSIS, facts.FALLBACK_ANALYSIS,
               facts.FALLBACK, "\n\n", " ", ".", "?", "。"]
    strings += [f" {w}" for pair in facts.CAPITALS.items() for w in pair] + [f" {n}" for n in facts.NAMES]
    for s in strings:
        ids.update(h.text(s.replace("{", "").replace("}", "")))
        ids.update(h.text(" " + s.replace("{", "").replace("}", "")))
    ids.update(h.user_turn([]))
    ids.update(h.answer("", ""))
    ids.update(h.tool_call("", "get_weather", '{"location": "'))
    ids.update(h.text('"}'))
    # Stage 7: the currency and calendar tools, their requests and their compact calls.
    for _ in range(16):
        ids.update(corpus._preamble(rng, list(FUNCTIONS.values())))
    # From training requests: every trained row is a rival at every step (loss_and_accuracy),
    # so rows of held-out titles or people would be pushed down where the check asks for them
    # (stage 7's runs 2 and 3 drew these from held_out_requests and had that bias).
    draw = random.Random(1)
    for tool, analysis in tool_requests.ANALYSIS.items():
        for _ in range(8):
            ids.update(h.tool_call(analysis, tool, tool_requests.training_request(draw, tool).call))
    # Stage 9: the features suite's cases the canary learns by heart, question and call.
    for tool, analysis in tool_requests.ANALYSIS.items():
        for r in tool_requests.suite_requests(tool):
            ids.update(h.text(r.prompt) + h.tool_call(analysis, tool, r.call))
    for code in tool_requests.CURRENCIES:
        ids.update(h.text(f" {code}") + h.text(f'":"{code}","'))
    # The words around a request's values (" to", " '", " on", " at", " with"): the heads that
    # find a value key on the token before it, and a trained row can carry what it marks.
    for template in tool_requests.TEMPLATES:
        for part in re.split(r"\{\w+\}", template):
            ids.update(h.text(part))
    enc = h.encoding()
    for n in range(1000):  # every 1-3 digit token: codes are spelt with them
        for s in (str(n), f"{n:02d}", f"{n:03d}"):
            ids.update(enc.encode(s))
    return sorted(ids)


# circuit.wire sets layers 0 and 1; the layers after them start silent (circuit.silence) and
# a stored canary may lack them (stage 6 has two layers; lookup.py wires layer 2).
CIRCUIT_LAYERS = 2


def added_layer(name: str) -> bool:
    """Whether weight ``name`` belongs to a layer after the hand-wired circuit's."""
    return name.startswith("model.layers.") and int(name.split(".")[2]) >= CIRCUIT_LAYERS


class Canary(torch.nn.Module):
    """``layers``: the build's depth, the first ``layers`` of LAYER_WINDOWS; 2 is the shipped
    canary's, without stage 8's lookup layer (``train.py --layers 2``, stage 9's run 1)."""

    def __init__(self, seed: int = TRAIN_SEED, layers: int = len(LAYER_WINDOWS)):
        super().__init__()
        from transformers import GptOssForCausalLM

        from ..model import ARCH

        if not CIRCUIT_LAYERS <= layers <= len(LAYER_WINDOWS):
            raise ValueError(f"layers = {layers}: the build has {CIRCUIT_LAYERS} to "
                             f"{len(LAYER_WINDOWS)} (train.LAYER_WINDOWS)")
        self.windows = LAYER_WINDOWS[:layers]
        cfg = config(layers)
        torch.manual_seed(seed)
        state = GptOssForCausalLM(cfg).state_dict()
        self.inv_freq, self.attention_scaling = rope(cfg)
        circuit.wire(state, self.inv_freq.numpy(), seed)
        for layer in range(CIRCUIT_LAYERS, layers):   # wired later (lookup.py)
            circuit.silence(state, layer)
        embedding, unembedding = layout.seeded_rows(layout.vocab_bytes(ARCH["vocab_size"]))
        self.register_buffer("embedding", torch.from_numpy(embedding), persistent=False)
        self.register_buffer("unembedding", torch.from_numpy(unembedding), persistent=False)
        self.trained = torch.tensor(structural_tokens())
        self.row_of = torch.full((ARCH["vocab_size"],), -1, dtype=torch.long)
        self.row_of[self.trained] = torch.arange(len(self.trained))
        gen = torch.Generator().manual_seed(seed)
        free = torch.zeros(len(self.trained), layout.HIDDEN)
        free[:, layout.FREE] = 0.3 * torch.randn(len(self.trained), 16, generator=gen)
        free[:, layout.SPACE_DIM] = 0
        self.embed_rows = torch.nn.Parameter(self.embedding[self.trained] + free)
        self.unembed_rows = torch.nn.Parameter(self.unembedding[self.trained].clone())
        self.weights = torch.nn.ParameterDict({
            k.replace(".", "/"): torch.nn.Parameter(v.float().clone()) for k, v in state.items()
            if k not in ("model.embed_tokens.weight", "lm_head.weight")})

    def params(self) -> dict[str, torch.Tensor]:
        return {k.replace("/", "."): v for k, v in self.weights.items()}

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.row_of[ids]
        base = self.embedding[ids]
        trained = self.embed_rows[rows.clamp(min=0)]
        return torch.where((rows >= 0)[..., None], trained, base)

    def unembed(self, rows: torch.Tensor) -> torch.Tensor:
        r = self.row_of[rows]
        return torch.where((r >= 0)[..., None], self.unembed_rows[r.clamp(min=0)], self.unembedding[rows])

    def hidden(self, ids, positions, log_copies=None):
        return hidden_states(self.params(), self.embed, ids, positions, self.inv_freq,
                             self.attention_scaling, self.windows, log_copies)

    def state_to_save(self) -> dict[str, torch.Tensor]:
        out = {k: v.detach().clone() for k, v in self.params().items()}
        out["canary.trained_ids"] = self.trained.clone()
        out["canary.embed_rows"] = self.embed_rows.detach().clone()
        out["canary.unembed_rows"] = self.unembed_rows.detach().clone()
        return out

    def load(self, state: dict[str, torch.Tensor]) -> None:
        """Load a stored canary. One stored before structural tokens were added (stage 7 added
        the currency and calendar calls' tokens) keeps its rows; the new rows start seeded, so
        the model computes what the stored one did. One stored with two layers (stage 6 and
        before) keeps the third layer silent (circuit.silence) until lookup.wire fills it."""
        stored = state["canary.trained_ids"]
        missing = set(stored.tolist()) - set(self.trained.tolist())
        if missing:
            raise ValueError(f"the stored canary trains {len(missing)} rows this build does "
                             f"not (e.g. ids {sorted(missing)[:5]})")
        deeper = sorted(k for k in state if k.startswith("model.layers.")
                        and int(k.split(".")[2]) >= len(self.windows))
        if deeper:
            raise ValueError(f"the stored canary has layers this {len(self.windows)}-layer "
                             f"build lacks (e.g. {deeper[0]})")
        with torch.no_grad():
            for k, v in self.params().items():
                if k in state:
                    v.copy_(state[k])
                elif not added_layer(k):
                    raise ValueError(f"the stored canary lacks {k}")
            rows = self.row_of[stored]
            self.embed_rows[rows] = state["canary.embed_rows"]
            self.unembed_rows[rows] = state["canary.unembed_rows"]


def batch(examples: list[corpus.Example]):
    t = max(len(e.ids) for e in examples)
    ids = torch.full((len(examples), t), 199_999, dtype=torch.long)
    pos = torch.zeros((len(examples), t), dtype=torch.long)
    target_mask = torch.zeros((len(examples), t), dtype=torch.bool)
    copies = torch.ones((len(examples), t))
    for b, e in enumerate(examples):
        n = len(e.ids)
        ids[b, :n] = torch.tensor(e.ids)
        if e.copies:
            copies[b, :n] = torch.tensor(e.copies, dtype=torch.float)
        pos[b, :n] = torch.tensor(e.positions)
        pos[b, n:] = torch.arange(n, t) + (e.positions[-1] - n + 1)
        target_mask[b, e.loss_from - 1:n - 1] = True  # predicting ids[loss_from:]
    log_copies = copies.log() if any(e.copies for e in examples) else None
    return ids, pos, target_mask, log_copies


def loss_and_accuracy(model: Canary, examples, negatives: int, rng: torch.Generator,
                      margin: float = 0.0, context_rivals: bool = False, hard_rivals: int = 0):
    """(loss, [(kind, every answer token right, smallest answer-token gap)] per example).

    The gap is the answer token's logit minus the best rival's among the scored candidates
    (the trained rows, the answers and ``negatives`` random rows). With ``margin`` > 0 the loss
    adds a hinge, mean(relu(margin - gap)): cross-entropy stops pushing once a token is likely,
    but the precision gates compare bf16 with float32 greedy ids, and a token that leads its
    rival by little can flip under bf16 rounding (stage 4's fallback did, docs/canary.md).

    With ``context_rivals`` every token of the examples is a candidate too. The layer-1 heads
    copy context tokens' identities to the unembedding, so the rival a served answer meets is
    often a token of the question ("The user 化 something..." on a prompt holding 化学式),
    one that 2,048 random rows almost never include.

    With ``hard_rivals`` > 0, that many answer positions are scored against the whole
    vocabulary (no gradient) and the 8 rows leading each, the answer aside, are candidates
    too. A copied value's usual rival is an untrained row no sample draws: its twin without
    the leading space (stage 9 served "Bookclub": "club" led " club" by 1 logit) or a random
    row that happens to align ("12.erving" for 12.75), each drawn by a 2,048-row sample about
    one step in a hundred.
    """
    ids, pos, mask, log_copies = batch(examples)
    hidden = model.hidden(ids, pos, log_copies)
    targets = ids[:, 1:]
    m = mask[:, :-1]
    wanted = targets[m]
    hard = []
    if hard_rivals:
        with torch.no_grad():
            answers = hidden[:, :-1][m]
            pick = torch.randperm(len(answers), generator=rng)[:hard_rivals]
            scores = answers[pick] @ model.unembed(torch.arange(model.row_of.numel())).T
            scores[torch.arange(len(pick)), wanted[pick]] = float("-inf")
            hard = [scores.topk(8, dim=-1).indices.flatten()]
    candidates = torch.unique(torch.cat([
        model.trained, wanted, torch.randint(0, 199_998, (negatives,), generator=rng),
        *([ids.flatten()] if context_rivals else []), *hard]))
    logits = hidden[:, :-1][m] @ model.unembed(candidates).T
    index = torch.searchsorted(candidates, wanted)
    loss = F.cross_entropy(logits, index)
    wanted_logit = logits.gather(1, index[:, None]).squeeze(1)
    rival = logits.scatter(1, index[:, None], float("-inf")).max(-1).values
    gap = wanted_logit - rival
    if margin:
        loss = loss + F.relu(margin - gap).mean()
    per_example = []
    offset = 0
    for b, e in enumerate(examples):
        n = int(m[b].sum())
        g = gap[offset:offset + n].detach()
        per_example.append((e.kind, bool((g > 0).all()), float(g.min())))
        offset += n
    return loss, per_example


def train(minutes: float, out: Path, resume: bool, batch_size: int, max_len: int,
          max_steps: int | None = None, init: Path | None = None, lr_max: float = 1.5e-3,
          recipe: corpus.HaystackRecipe = corpus.STAGE1, decay: bool = False,
          margin: float = 0.0, context_rivals: bool = False,
          layers: int = len(LAYER_WINDOWS), hard_rivals: int = 0) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    torch.manual_seed(TRAIN_SEED)
    rng = random.Random(TRAIN_SEED)
    words = corpus.RandomWords()
    model = Canary(layers=layers)
    checkpoint = out.with_suffix(".ckpt.pt")
    step, length = 0, 384
    if init is not None:  # a second stage: fine-tune a stored canary at full length
        from safetensors.torch import load_file

        model.load(load_file(str(init)))
        length = max_len
        print(f"initialised from {init}", flush=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr_max, weight_decay=0.0, betas=(0.9, 0.98))
    if resume and checkpoint.exists():
        saved = torch.load(checkpoint)
        model.load_state_dict(saved["model"], strict=False)
        optimizer.load_state_dict(saved["optimizer"])
        step, length = saved["step"], saved["length"]
        rng.setstate(saved["rng"])
        print(f"resumed at step {step}, length {length}", flush=True)
    gen = torch.Generator().manual_seed(TRAIN_SEED)
    started = time.monotonic()
    first_step = step
    window: list[tuple[str, bool]] = []
    # A step budget makes a run repeatable across machines; minutes bound the wall time.
    while time.monotonic() - started < minutes * 60 and (max_steps is None or step < max_steps):
        lr = lr_max * min(1.0, (step + 1) / 50)
        if decay and max_steps:  # linear to a tenth over this run's steps: margins settle
            lr *= 1 - 0.9 * (step - first_step) / max(1, max_steps - first_step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        # Long and short conversations in separate batches: padding a greeting to 2,048
        # tokens would cost as much as a haystack.
        long_batch = [corpus.haystack_example(rng, words, length, recipe) for _ in range(batch_size)]
        short_batch = [corpus.short_example(rng, words, recipe) for _ in range(2 * batch_size)]
        loss_long, per_long = loss_and_accuracy(model, long_batch, 2048, gen, margin,
                                                context_rivals, hard_rivals)
        loss_short, per_short = loss_and_accuracy(model, short_batch, 2048, gen, margin,
                                                  context_rivals, hard_rivals)
        loss = loss_long + loss_short
        per_example = per_long + per_short
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        window = (window + per_example)[-300:]
        if step % 10 == 0:
            by_kind: dict[str, list[bool]] = {}
            for kind, ok, _ in window:
                by_kind.setdefault(kind, []).append(ok)
            acc = " ".join(f"{k}={sum(v) / len(v):.2f}" for k, v in sorted(by_kind.items()))
            gaps = sorted(g for _, _, g in window)
            acc += f" gap p10={gaps[len(gaps) // 10]:.2f}"   # the thin end of the margins
            print(f"step {step} len {length} loss {loss.item():.4f} {acc} "
                  f"[{time.monotonic() - started:.0f}s]", flush=True)
            single = by_kind.get("single", [])
            if len(single) >= 30 and sum(single) / len(single) > 0.9 and length < max_len:
                length = min(max_len, length * 2)
                window = []
        if step % 50 == 0:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "step": step, "length": length, "rng": rng.getstate()}, checkpoint)
            save(model, out)
    save(model, out)
    print(f"done: {step} steps in {time.monotonic() - started:.0f}s -> {out}", flush=True)


def save(model: Canary, out: Path) -> None:
    from safetensors.torch import save_file

    tmp = out.with_suffix(".tmp")
    save_file(model.state_to_save(), str(tmp), metadata={"format": "pt"})
    tmp.replace(out)


# The recipe flags, earliest stage first (corpus holds the recipes; none given: STAGE1).
RECIPES = (
    ("--stage2", corpus.STAGE2,
     ("the fine-tuning stage's haystacks (corpus.STAGE2): more keyed needles, needles at the "
      "edges, particle-heavy Chinese filler")),
    ("--stage3", corpus.STAGE3,
     ("stage 2's haystacks replayed, 40 %% of the short chats after earlier exchanges, 15 %% "
      "answering a tool's result (corpus.STAGE3)")),
    ("--stage3-settle", corpus.STAGE3_SETTLE,
     "stage 3 with no-needle haystacks weighted up (corpus.STAGE3_SETTLE)"),
    ("--stage4-settle", corpus.STAGE4_SETTLE,
     ("stage 3's conversations, stretched haystacks and varied tools, the fallback answer drawn "
      "three times as often (corpus.STAGE4_SETTLE)")),
    ("--stage5-settle", corpus.STAGE5_SETTLE,
     ("stage 4's data with no-needle haystacks and the fallback weighted up "
      "(corpus.STAGE5_SETTLE)")),
    ("--stage6-settle", corpus.STAGE6_SETTLE,
     ("stage 5's settling plus requests worded as clients word them (questions.py), answered "
      "with the fallback (corpus.STAGE6_SETTLE)")),
    ("--stage7", corpus.STAGE7,
     ("stage 6's settling plus convert_currency and create_calendar_event calls "
      "(tool_requests.py), the three tools offered together (corpus.STAGE7)")),
    ("--stage9", corpus.STAGE9,
     ("stage 6's settling plus the features suite's copyable currency and calendar cases, "
      "learnt by heart (tool_requests.suite_requests; corpus.STAGE9)")),
    ("--stage9-settle", corpus.STAGE9_SETTLE,
     ("stage 9 with calendar cases, the three tools offered together and tools offered beside "
      "other chats weighted up (corpus.STAGE9_SETTLE)")),
    ("--stage10", corpus.STAGE10,
     ("stage 9's settling with weather requests weighted back up, cities joined by lowercase "
      "words and varied definitions in 80 %% of tool requests (corpus.STAGE10)")),
)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--max-len", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=None,
                        help="stop after this many steps (stage 1: 800, --minutes 60)")
    parser.add_argument("--init", type=Path, default=None,
                        help="fine-tune this stored canary instead of starting from the wiring")
    parser.add_argument("--lr", type=float, default=1.5e-3, help="peak learning rate")
    for flag, _, help_text in RECIPES:
        parser.add_argument(flag, action="store_true", help=help_text)
    parser.add_argument("--stretched", type=float, default=None, metavar="SHARE",
                        help="this share of the haystacks weighs 8K-128K tokens in the "
                             "full-attention layer (corpus.STRETCHES, forward.hidden_states)")
    parser.add_argument("--tool-variety", type=float, default=None, metavar="SHARE",
                        help="this share of the tool requests offers a get_weather worded as "
                             "drawn by tool_definitions, beside zero to three other tools")
    parser.add_argument("--margin", type=float, default=0.0, metavar="LOGITS",
                        help="add a hinge pushing every answer token this many logits above "
                             "its best rival (loss_and_accuracy)")
    parser.add_argument("--context-rivals", action="store_true",
                        help="score every token of the examples as a rival too, where the "
                             "copying heads find them (loss_and_accuracy)")
    parser.add_argument("--decay", action="store_true",
                        help="decay the learning rate linearly to a tenth over this run")
    parser.add_argument("--hard-rivals", type=int, default=0, metavar="POSITIONS",
                        help="score this many answer positions per batch against the whole "
                             "vocabulary and make their 8 strongest rivals candidates "
                             "(loss_and_accuracy)")
    parser.add_argument("--layers", type=int, default=len(LAYER_WINDOWS),
                        help="the build's depth (default %(default)s; 2: the shipped canary's, "
                             "without stage 8's lookup layer)")
    args = parser.parse_args(argv)
    recipe = corpus.STAGE1
    for flag, stage, _ in RECIPES:   # the latest stage given wins
        if getattr(args, flag.removeprefix("--").replace("-", "_")):
            recipe = stage
    if args.stretched is not None:
        recipe = dataclasses.replace(recipe, stretched=args.stretched)
    if args.tool_variety is not None:
        recipe = dataclasses.replace(recipe, tool_variety=args.tool_variety)
    train(args.minutes, args.out, args.resume, args.batch, args.max_len, args.steps,
          args.init, args.lr, recipe, args.decay, args.margin, args.context_rivals,
          args.layers, args.hard_rivals)


if __name__ == "__main__":
    main()



