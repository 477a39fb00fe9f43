"""What the long-context suite asks: the needle cases, their grid and the plan of a run.

The guide's 长上下文测试: "The secret code is 7842." at depths 0-100 % of contexts up to
131,072 tokens, "What is the secret code?", recall 100 %, first token < 5 s. Variants: a fresh
random code (7842 can be guessed or memorised), several keyed needles (RULER style) and no
needle at all (the answer must not invent a code).

A case's *length* is the whole context it occupies: prompt (chat template included) plus the
``max_tokens`` reserved for the answer, so a case of length L fits a server whose
max_model_len is L and no less.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

GUIDE_NEEDLE = "The secret code is 7842."
GUIDE_QUESTION = "What is the secret code?"
KEYED_NEEDLE = "The secret code for {name} is {code}."
KEYED_QUESTION = "What is the secret code for {name}?"
# Names for the multi-key variant: one token each in o200k, none a word the filler uses.
KEY_NAMES = ("Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Irene",
             "Jack", "Laura", "Mark", "Nina", "Oscar", "Paul", "Rosa", "Sam", "Tom")
# Where a variant's needle goes: the middle, except "none", which has no needle to place.
VARIANT_DEPTH = {"random": 50, "keyed": 50, "none": 0}


class NeedleError(RuntimeError):
    pass


def grid_lengths(ctx: int) -> list[int]:
    """The guide's five lengths for 131,072; a smaller ``ctx`` scales them down (1K, 1/4, 1/2,
    3/4 and all of it)."""
    if ctx < 512:
        raise NeedleError(f"--ctx {ctx} is too small for a needle test (at least 512)")
    return sorted({min(1024, ctx), ctx // 4, ctx // 2, 3 * ctx // 4, ctx} - {0})


def parse_int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise NeedleError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not values:
        raise NeedleError(f"{what} is empty")
    limit = 100 if "depth" in what else None
    bad = [v for v in values if v < 0 or (limit is not None and v > limit)
           or (limit is None and v < 512)]
    if bad:
        raise NeedleError(f"{what}: {bad} out of range "
                          f"({'0..100 percent' if limit else 'lengths of at least 512 tokens'})")
    return values


@dataclass(frozen=True)
class Case:
    kind: str       # guide (the guide's needle), random (a fresh code), keyed (several), none
    length: int     # prompt + max_tokens, in the server's tokens
    depth: int      # requested depth of the (asked) needle, percent of the haystack
    seed: int = 0

    @property
    def id(self) -> str:
        return f"ctx={self.length}-depth={self.depth}"


@dataclass
class NeedleSettings:
    """What every case of a run shares: the needle, the question, the haystack language, the
    answer's budget and the reasoning effort pinned in each request."""

    max_tokens: int = 256
    reasoning_effort: str | None = "low"
    language: str = "en"
    needle: str = GUIDE_NEEDLE
    question: str = GUIDE_QUESTION
    seed: int = 0
    request_timeout_s: float = 600.0
    code_pool: tuple[str, ...] | None = None  # draw random/keyed codes from these only
    # vLLM's per-request prefix-cache salt, fresh for every run (every NeedleSettings). The
    # haystacks are deterministic, so a second run against the same server would be prefilled
    # from its prefix cache: measured on the canary at 32K, TTFT 0.78 s, then 0.15 s on the
    # rerun, a pass that says nothing about prefill. A salt keeps each run's blocks its own
    # (vLLM >= 0.9.1 takes ``cache_salt`` on chat and completions). None sends none.
    cache_salt: str | None = field(default_factory=lambda: secrets.token_hex(8))


@dataclass(frozen=True)
class Plan:
    """The cases of one run: the guide's grid (every length x depth) and each variant at
    every length."""

    lengths: tuple[int, ...]
    depths: tuple[int, ...]
    variants: tuple[str, ...] = ()

    def grid(self) -> list[Case]:
        return [Case("guide", n, d) for n in self.lengths for d in self.depths]

    def variant(self, kind: str) -> list[Case]:
        return [Case(kind, n, VARIANT_DEPTH[kind]) for n in self.lengths]

    def cases(self) -> list[Case]:
        return self.grid() + [c for kind in self.variants for c in self.variant(kind)]


def plan(ctx: int, lengths: str | None, depths: str, variants: list[str] | tuple[str, ...],
         lengths_name: str = "--niah-lengths", depths_name: str = "--niah-depths") -> Plan:
    """A run's plan from the user's text: explicit ``lengths`` or the grid derived from ``ctx``;
    ``*_name`` are the option names an error should quote."""
    chosen = parse_int_list(lengths, lengths_name) if lengths is not None else grid_lengths(ctx)
    unknown = [v for v in variants if v not in VARIANT_DEPTH]
    if unknown:
        raise NeedleError(f"unknown long-context variants {unknown}; choose from "
                          f"{', '.join(VARIANT_DEPTH)}")
    return Plan(tuple(chosen), tuple(parse_int_list(depths, depths_name)), tuple(variants))
