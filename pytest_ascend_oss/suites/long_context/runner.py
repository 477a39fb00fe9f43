"""Running a needle case against the server and judging its answer exactly.

The verdict is an exact match of the code in the final answer (``content``), never in the
reasoning; public suites often judge with an LLM. Request-time trouble (out of memory, a KV
cache too small) is read from the server log when there is one, and ``/health`` after the
longest cases.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...server.diagnose import find_fatal
from ...transport import prom, vllm
from ...transport.http import ServerError, async_client, sync_client
from ...transport.streaming import send_streaming
from . import haystack
from .cases import Case, NeedleError, NeedleSettings
from .sizing import Prepared, Sizer

# Request-time trouble in a server log: memory, or a KV cache too small for the sequence.
_RUNTIME_TROUBLE = re.compile(r"out of memory|OutOfMemory|not enough KV cache|preempted",
                              re.IGNORECASE)


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


class Runner:
    """Prepares and runs cases against one server; keeps nothing but its outcomes."""

    def __init__(self, base_url: str, model: str, settings: NeedleSettings,
                 api_key: str | None = None, log_path: Path | None = None, progress=None,
                 health_check_from: int = 0):
        self.health_check_from = health_check_from  # /health after every case this long
        self.base_url, self.model, self.settings = base_url, model, settings
        self.api_key, self.log_path = api_key, log_path
        self.progress = progress or (lambda message: None)
        self.http = sync_client(base_url, api_key)
        self.sizer = Sizer(self.http, model, settings)
        self._max_model_len: int | None = None

    def close(self) -> None:
        self.http.close()

    @property
    def max_model_len(self) -> int | None:
        if self._max_model_len is None:
            self._max_model_len = vllm.max_model_len(self.http, self.model)
        return self._max_model_len

    def run(self, case: Case) -> Outcome:
        outcome = Outcome(case)
        limit = self.max_model_len
        if limit is not None and case.length > limit:
            outcome.error = outcome.verdict = (
                f"the server's max_model_len is {limit} tokens, below this case's {case.length}: "
                f"serve with --max-model-len {case.length} or more to pass it")
            return outcome
        try:
            prepared = self.sizer.prepare(case)
        except (NeedleError, haystack.HaystackError, ServerError) as exc:
            outcome.error = outcome.verdict = str(exc)
            return outcome
        outcome.prompt_tokens = prepared.prompt_tokens
        outcome.context_tokens = prepared.prompt_tokens + self.settings.max_tokens
        outcome.actual_depth = prepared.actual_depth
        log_mark = self._log_size()
        counters = prom.scrape_trouble(self.http)
        self.progress(f"needle {case.kind} {case.id}: {prepared.prompt_tokens} prompt tokens ...")
        record = asyncio.run(self._send(prepared.body))
        outcome.content, outcome.reasoning = record.text, record.reasoning
        outcome.finish_reason = record.finish_reason
        outcome.server_prompt_tokens = record.prompt_tokens
        if record.first_token_ns is not None:
            outcome.ttft_s = record.ttft_s
        if record.last_token_ns is not None:
            outcome.e2e_s = (record.last_token_ns - record.start_ns) / 1e9
        outcome.evidence = self._log_trouble(log_mark) + self._counter_trouble(counters)
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
        async with async_client(self.base_url, self.api_key,
                                timeout=self.settings.request_timeout_s) as http:
            return await send_streaming(http, "/v1/chat/completions", body)

    def _health(self) -> str | None:
        problem = vllm.health_problem(self.http)
        return None if problem is None else f"after the case: {problem}"

    def _counter_trouble(self, before: dict[str, float] | None) -> list[str]:
        """The server's own count of preemptions and failed requests moved during the case: in
        attach mode there is no log to read, but there is /metrics. (A server shared with other
        users can move these too; the evidence names the counter so a human can tell.)"""
        after = prom.scrape_trouble(self.http) if before is not None else None
        if after is None:
            return []
        moved = {k: after[k] - before.get(k, 0.0) for k in after if after[k] > before.get(k, 0.0)}
        return [f"server /metrics during the case: {k} +{v:g}" for k, v in moved.items()]

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
        _judge_no_needle(outcome, found)
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


# "There is no code" in the answer, as gpt-oss and the canary phrase it, in English or Chinese.
# An empty answer or one that merely lacks digits is not the same claim: a model that spent its
# whole budget in the analysis channel says nothing, and must not pass the no-needle control.
_SAYS_NONE = re.compile(r"\b(no|not|none|never|nothing|cannot|can't|couldn't|didn't|doesn't|"
                        r"isn't|there's no|unable)\b|没有|未|无|不存在|找不到", re.IGNORECASE)


def _judge_no_needle(outcome: Outcome, found: list[str]) -> None:
    """No needle was placed: the final answer, finished with ``stop``, must say there is none
    and name no number."""
    content = outcome.content.strip()
    if not content:
        outcome.passed = False
        outcome.verdict = (f"no final answer (finish_reason {outcome.finish_reason}); the control "
                           f"needs a reply saying there is no code; reasoning: "
                           f"{outcome.reasoning[-200:]!r}")
    elif found:
        outcome.passed = False
        outcome.verdict = f"claimed a code that is not there: {found}"
    elif outcome.finish_reason != "stop":
        outcome.passed = False
        outcome.verdict = (f"the answer did not finish (finish_reason {outcome.finish_reason}): "
                           f"{content[:200]!r}")
    elif not _SAYS_NONE.search(content):
        outcome.passed = False
        outcome.verdict = f"the answer does not say there is no code: {content[:200]!r}"
    else:
        outcome.passed = True
        outcome.verdict = "said there is no code"
