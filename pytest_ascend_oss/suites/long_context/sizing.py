"""Exact sizing: a case's prompt is built to the token, by the served model's own tokenizer.

Public NIAH suites count tokens with some other model's tokenizer; here every count comes from
the server (``/tokenize``, later confirmed by ``usage.prompt_tokens``), and the chat template's
share is measured once from ``usage``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import httpx

from ...transport import vllm
from . import haystack
from .cases import KEY_NAMES, KEYED_NEEDLE, KEYED_QUESTION, Case, NeedleError, NeedleSettings

_PAD_WORD = " yes"


@dataclass
class Prepared:
    case: Case
    body: dict
    needle: str | None
    codes: list[str]            # the answer's code first; other needles' codes after it
    prompt_tokens: int          # the server's count of the whole chat prompt
    haystack_tokens: int
    actual_depth: float | None  # share of haystack tokens before the needle, percent


class SentencePool:
    """Filler sentences with exact token counts from the server, counted in blocks.

    Counting 131,072 tokens sentence by sentence would take thousands of requests; counting
    blocks of 64 and only the sentences of the block where a cut falls takes a few dozen.
    Sentences never share a token (haystack.py), so counts add up.
    """

    BLOCK = 64

    def __init__(self, http: httpx.Client, model: str, seed: str, language: str):
        self.http, self.model, self.seed, self.language = http, model, seed, language
        self.sentences: list[str] = []
        self.block_tokens: list[int] = []
        self._sentence_tokens: dict[int, int] = {}

    def count(self, text: str) -> int:
        return len(vllm.tokenize(self.http, self.model, text))

    def _grow(self) -> None:
        start = len(self.sentences)
        block = haystack.sentences(f"{self.seed}/{len(self.block_tokens)}", self.BLOCK,
                                   self.language)
        self.sentences += block
        self.block_tokens.append(self.count("".join(block)))
        assert len(self.sentences) == start + self.BLOCK

    def sentence_tokens(self, i: int) -> int:
        if i not in self._sentence_tokens:
            self._sentence_tokens[i] = self.count(self.sentences[i])
        return self._sentence_tokens[i]

    def prefix_tokens(self, k: int) -> int:
        """Tokens of sentences[:k]."""
        full, rest = divmod(k, self.BLOCK)
        return sum(self.block_tokens[:full]) + sum(
            self.sentence_tokens(full * self.BLOCK + j) for j in range(rest))

    def fit(self, budget: int) -> int:
        """The most sentences whose tokens do not exceed ``budget``."""
        while sum(self.block_tokens) <= budget:
            self._grow()
        total, k = 0, 0
        for tokens in self.block_tokens:
            if total + tokens > budget:
                break
            total += tokens
            k += self.BLOCK
        while total + self.sentence_tokens(k) <= budget:
            total += self.sentence_tokens(k)
            k += 1
        return k

    def boundary_near(self, k: int, share: float) -> int:
        """Of the boundaries 0..k, the one whose share of tokens before it is nearest ``share``."""
        total = self.prefix_tokens(k)
        goal = share * total
        lo, hi = 0, k
        while lo < hi:  # first boundary with prefix >= goal
            mid = (lo + hi) // 2
            if self.prefix_tokens(mid) < goal:
                lo = mid + 1
            else:
                hi = mid
        candidates = [b for b in (lo - 1, lo) if 0 <= b <= k]
        return min(candidates, key=lambda b: abs(self.prefix_tokens(b) - goal))


class Sizer:
    """Builds the request of a case: needles placed at the asked depth in a haystack of its own,
    the whole prompt exactly ``length - max_tokens`` tokens."""

    def __init__(self, http: httpx.Client, model: str, settings: NeedleSettings):
        if not re.search(r"\d", settings.needle):
            raise NeedleError(f"the needle {settings.needle!r} has no number to recall")
        self.http, self.model, self.settings = http, model, settings
        self._overhead: int | None = None

    def base_body(self, content: str) -> dict:
        body = {"model": self.model, "messages": [{"role": "user", "content": content}],
                "max_tokens": self.settings.max_tokens, "temperature": 0}
        if self.settings.reasoning_effort:
            body["reasoning_effort"] = self.settings.reasoning_effort
        if self.settings.cache_salt:
            body["cache_salt"] = self.settings.cache_salt
        return body

    @property
    def overhead(self) -> int:
        """Tokens the chat template adds around the user's text (with this run's effort)."""
        if self._overhead is None:
            extra = {k: v for k, v in self.base_body("").items()
                     if k not in ("model", "messages", "max_tokens", "cache_salt")}
            self._overhead = vllm.chat_overhead(self.http, self.model, **extra)
        return self._overhead

    def count(self, text: str) -> int:
        return len(vllm.tokenize(self.http, self.model, text))

    def _needles(self, case: Case) -> tuple[list[str], list[str], str]:
        """(needle sentences, their codes with the asked one first, question)."""
        s = self.settings
        rng = random.Random(f"{s.seed}-{case.kind}-{case.length}-{case.depth}-{case.seed}")
        if case.kind == "guide":
            return [s.needle], re.findall(r"\d+", s.needle)[:1], s.question
        if case.kind == "none":
            return [], [], s.question
        draw = (lambda: rng.choice(s.code_pool)) if s.code_pool else (
            lambda: f"{rng.randrange(1000, 10000)}")
        fresh = [c for c in (draw() for _ in range(50)) if c not in s.needle]
        if case.kind == "random":
            code = fresh[0]
            return [re.sub(r"\d+", code, s.needle, count=1)], [code], s.question
        names = rng.sample(KEY_NAMES, 4)
        codes = list(dict.fromkeys(fresh))[:4]
        needles = [KEYED_NEEDLE.format(name=n, code=c) for n, c in zip(names, codes)]
        return needles, codes, KEYED_QUESTION.format(name=names[0])

    def prepare(self, case: Case) -> Prepared:
        # Every case gets its own haystack: with one shared text, vLLM's prefix cache would
        # serve most of each prefill from the previous case and the TTFT would flatter.
        pool = SentencePool(self.http, self.model,
                            f"{self.settings.seed}-{case.kind}-{case.id}-{case.seed}",
                            self.settings.language)
        needles, codes, question = self._needles(case)
        tail = "\n\n" + question
        target = case.length - self.settings.max_tokens - self.overhead
        fixed = self.count(tail) + sum(self.count(" " + n) for n in needles)
        if target - fixed < 16:
            raise NeedleError(f"{case.id}: {case.length} tokens leave no room for a haystack "
                              f"(template {self.overhead}, answer {self.settings.max_tokens})")
        budget = target - fixed
        for _ in range(4):  # additivity is checked by the final count; adjust and retry
            # At least one pad word: without it the last "." merges with the "\n\n" before
            # the question into one token, and counts would stop adding up.
            k = pool.fit(budget - 1)
            pad = budget - pool.prefix_tokens(k)
            filler = pool.sentences[:k] + [_PAD_WORD * pad]
            haystack_tokens = pool.prefix_tokens(k) + pad
            asked_at = pool.boundary_near(k, case.depth / 100) if needles else None
            if asked_at is not None and case.depth == 100:
                asked_at = k + 1  # after the padding too: the very end of the haystack
            for needle in needles or [self.settings.needle]:
                haystack.assert_clean("".join(filler), needle, question)
            before = (haystack_tokens if asked_at is None or asked_at > len(filler) - 1
                      else pool.prefix_tokens(asked_at))
            content, depth = self._assemble(filler, needles, asked_at, case, before,
                                            haystack_tokens)
            content += tail
            counted = self.count(content)
            if counted == target:
                break
            budget += target - counted
        else:
            raise NeedleError(f"{case.id}: could not size the prompt to {target} tokens "
                              f"(last count {counted})")
        return Prepared(case, self.base_body(content), needles[0] if needles else None, codes,
                        counted + self.overhead, haystack_tokens, depth)

    @staticmethod
    def _assemble(filler, needles, asked_at, case, before, haystack_tokens):
        """Filler with the asked needle at boundary ``asked_at`` (``before`` filler tokens in
        front of it) and the others spread out; returns the text and the needle's depth."""
        pieces = list(filler)
        depth = None
        if needles:
            depth = 100.0 * before / haystack_tokens
            rng = random.Random(f"others-{case.id}-{case.seed}")
            others = [(rng.randrange(0, len(filler)), n) for n in needles[1:]]
            placed = sorted([(asked_at, needles[0])] + others, key=lambda p: -p[0])
            for at, needle in placed:  # from the back, so earlier indices stay valid
                pieces.insert(at, " " + needle)
        text = "".join(pieces)
        return (text.removeprefix(" ")), depth

