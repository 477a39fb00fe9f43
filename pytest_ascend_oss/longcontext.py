"""Needle in a haystack, sized by the served model's own tokenizer and judged exactly.

The guide's 长上下文测试: "The secret code is 7842." at depths 0-100 % of contexts up to
131,072 tokens, "What is the secret code?", recall 100 %, first token < 5 s. Public NIAH suites
count tokens with some other model's tokenizer and often judge with an LLM; here every count
comes from the server (``/tokenize``, confirmed by ``usage.prompt_tokens``) and the verdict is
an exact match of the code in the final answer (``content``), never in the reasoning.

A case's *length* is the whole context it occupies: prompt (chat template included) plus the
``max_tokens`` reserved for the answer, so a case of length L fits a server whose
max_model_len is L and no less.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from . import haystack, workload
from .server.diagnose import find_fatal
from .server.launcher import auth_headers
from .streaming import send_streaming

GUIDE_NEEDLE = "The secret code is 7842."
GUIDE_QUESTION = "What is the secret code?"
GUIDE_LENGTHS = (1024, 32768, 65536, 98304, 131072)
DEFAULT_DEPTHS = (0, 25, 50, 75, 100)
KEYED_NEEDLE = "The secret code for {name} is {code}."
KEYED_QUESTION = "What is the secret code for {name}?"
# Names for the multi-key variant: one token each in o200k, none a word the filler uses.
KEY_NAMES = ("Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Irene",
             "Jack", "Laura", "Mark", "Nina", "Oscar", "Paul", "Rosa", "Sam", "Tom")
KINDS = ("guide", "random", "keyed", "none")
# Request-time trouble in a server log: memory, or a KV cache too small for the sequence.
_RUNTIME_TROUBLE = re.compile(r"out of memory|OutOfMemory|not enough KV cache|preempted",
                              re.IGNORECASE)
_PAD_WORD = " yes"


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
class Prepared:
    case: Case
    body: dict
    needle: str | None
    codes: list[str]            # the answer's code first; other needles' codes after it
    prompt_tokens: int          # the server's count of the whole chat prompt
    haystack_tokens: int
    actual_depth: float | None  # share of haystack tokens before the needle, percent


@dataclass
class Outcome:
    case: Case
    passed: bool = False
    verdict: str = ""
    expected: str | None = None
    found: list[str] = field(default_factory=list)
    content: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    ttft_s: float | None = None
    e2e_s: float | None = None
    prompt_tokens: int | None = None
    server_prompt_tokens: int | None = None
    context_tokens: int | None = None
    actual_depth: float | None = None
    error: str | None = None
    evidence: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["case"] = {**asdict(self.case), "id": self.case.id}
        return d


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
        return len(workload.tokenize(self.http, self.model, text))

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


@dataclass
class Settings:
    max_tokens: int = 256
    reasoning_effort: str | None = "low"
    language: str = "en"
    needle: str = GUIDE_NEEDLE
    question: str = GUIDE_QUESTION
    seed: int = 0
    request_timeout_s: float = 600.0
    code_pool: tuple[str, ...] | None = None  # draw random/keyed codes from these only


class Runner:
    """Prepares and runs cases against one server; keeps nothing but its outcomes."""

    def __init__(self, base_url: str, model: str, settings: Settings, api_key: str | None = None,
                 log_path: Path | None = None, progress=None, health_check_from: int = 0):
        if not re.search(r"\d", settings.needle):
            raise NeedleError(f"the needle {settings.needle!r} has no number to recall")
        self.health_check_from = health_check_from  # /health after every case this long
        self.base_url, self.model, self.settings = base_url, model, settings
        self.api_key, self.log_path = api_key, log_path
        self.progress = progress or (lambda message: None)
        self.http = httpx.Client(base_url=base_url, headers=auth_headers(api_key), timeout=120)
        self._overhead: int | None = None
        self._max_model_len: int | None = None

    def close(self) -> None:
        self.http.close()

    # -- server facts -----------------------------------------------------------------------

    @property
    def max_model_len(self) -> int | None:
        if self._max_model_len is None:
            models = self.http.get("/v1/models").json().get("data") or []
            for m in models:
                if m.get("id") == self.model and m.get("max_model_len"):
                    self._max_model_len = int(m["max_model_len"])
        return self._max_model_len

    def _base_body(self, content: str) -> dict:
        body = {"model": self.model, "messages": [{"role": "user", "content": content}],
                "max_tokens": self.settings.max_tokens, "temperature": 0}
        if self.settings.reasoning_effort:
            body["reasoning_effort"] = self.settings.reasoning_effort
        return body

    @property
    def overhead(self) -> int:
        """Tokens the chat template adds around the user's text, from the server's usage."""
        if self._overhead is None:
            probe = "Hello there."
            answer = self.http.post("/v1/chat/completions",
                                    json={**self._base_body(probe), "max_tokens": 1})
            if answer.status_code != 200:
                raise NeedleError(f"chat probe answers {answer.status_code}: {answer.text[:300]}")
            self._overhead = answer.json()["usage"]["prompt_tokens"] - self.count(probe)
        return self._overhead

    def count(self, text: str) -> int:
        return len(workload.tokenize(self.http, self.model, text))

    # -- building a case --------------------------------------------------------------------

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
        return Prepared(case, self._base_body(content), needles[0] if needles else None, codes,
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

    # -- running a case ---------------------------------------------------------------------

    def run(self, case: Case) -> Outcome:
        outcome = Outcome(case)
        limit = self.max_model_len
        if limit is not None and case.length > limit:
            outcome.error = outcome.verdict = (
                f"the server's max_model_len is {limit} tokens, below this case's {case.length}: "
                f"serve with --max-model-len {case.length} or more to pass it")
            return outcome
        try:
            prepared = self.prepare(case)
        except (NeedleError, haystack.HaystackError, workload.WorkloadError) as exc:
            outcome.error = outcome.verdict = str(exc)
            return outcome
        outcome.prompt_tokens = prepared.prompt_tokens
        outcome.context_tokens = prepared.prompt_tokens + self.settings.max_tokens
        outcome.actual_depth = prepared.actual_depth
        log_mark = self._log_size()
        self.progress(f"needle {case.kind} {case.id}: {prepared.prompt_tokens} prompt tokens ...")
        record = asyncio.run(self._send(prepared.body))
        outcome.content, outcome.reasoning = record.text, record.reasoning
        outcome.finish_reason = record.finish_reason
        outcome.server_prompt_tokens = record.prompt_tokens
        if record.first_token_ns is not None:
            outcome.ttft_s = record.ttft_s
        if record.last_token_ns is not None:
            outcome.e2e_s = (record.last_token_ns - record.start_ns) / 1e9
        outcome.evidence = self._log_trouble(log_mark)
        if record.error:
            outcome.error = record.error
        elif record.prompt_tokens is not None and record.prompt_tokens != prepared.prompt_tokens:
            outcome.error = (f"the server counted {record.prompt_tokens} prompt tokens, "
                             f"/tokenize gave {prepared.prompt_tokens}")
        if case.length >= self.health_check_from:
            health = self._health()
            if health:
                outcome.evidence.append(health)
        judge(outcome, prepared)
        self.progress(f"needle {case.kind} {case.id}: {outcome.verdict}")
        return outcome

    async def _send(self, body: dict):
        async with httpx.AsyncClient(base_url=self.base_url, headers=auth_headers(self.api_key),
                                     timeout=self.settings.request_timeout_s) as http:
            return await send_streaming(http, "/v1/chat/completions", body)

    def _health(self) -> str | None:
        try:
            answer = self.http.get("/health", timeout=10)
        except httpx.HTTPError as exc:
            return f"/health after the case: {type(exc).__name__}: {exc}"
        return None if answer.status_code == 200 else f"/health after the case: {answer.status_code}"

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size if self.log_path else 0
        except OSError:
            return 0

    def _log_trouble(self, mark: int) -> list[str]:
        if not self.log_path:
            return []
        try:
            with open(self.log_path, "rb") as f:
                f.seek(mark)
                new = f.read().decode(errors="replace")
        except OSError:
            return []
        found = find_fatal(new)
        lines = [f"server log: {found[1]}"] if found else []
        lines += [f"server log: {line.strip()}" for line in new.splitlines()
                  if _RUNTIME_TROUBLE.search(line)][:5]
        return list(dict.fromkeys(lines))


def judge(outcome: Outcome, prepared: Prepared) -> None:
    """Exact verdict on the final answer: the asked code and no other number (or, with no
    needle, no number at all)."""
    found = re.findall(r"\d+", outcome.content)
    outcome.found = found
    outcome.expected = prepared.codes[0] if prepared.codes else None
    if outcome.error or outcome.evidence:
        outcome.passed = False
        outcome.verdict = "; ".join(filter(None, [outcome.error, *outcome.evidence]))
        return
    if prepared.case.kind == "none":
        outcome.passed = not found
        outcome.verdict = ("no code claimed" if outcome.passed
                           else f"claimed a code that is not there: {found}")
        return
    code = prepared.codes[0]
    wrong = [n for n in found if n != code]
    outcome.passed = code in found and not wrong
    if outcome.passed:
        outcome.verdict = f"found {code}"
    elif not outcome.content.strip():
        outcome.verdict = (f"no final answer (finish_reason {outcome.finish_reason}); "
                           f"reasoning: {outcome.reasoning[-200:]!r}")
    else:
        outcome.verdict = f"expected {code}, the answer says {outcome.content.strip()[:200]!r}"
