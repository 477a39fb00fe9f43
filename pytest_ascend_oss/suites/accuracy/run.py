"""The accuracy suite's run: every question of a set at every reasoning effort of the profile,
``repeats`` times, graded, summarized with an interval, judged against the profile's published
figure minus a margin, and, given a baseline run's answers, compared question by question.

Every answer is appended to ``accuracy/answers.jsonl`` the moment it arrives, with what it was
asked under (the set's fingerprint, the sampling, the server). A run that stops (Ctrl-C, a
crash, a timeout) keeps them, and the next run against the same server and settings asks only
what is missing: an AIME pass at high effort and 32K tokens per answer takes hours on one card.
A failed request is kept nowhere: it is asked again next time, and this run's accuracy is not
measured (a server error is not a wrong answer).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ...gates import Gate
from ...metrics import accuracy as stats
from ...metrics.latency import RequestRecord
from ...report.files import write_json_atomic, write_text_atomic
from ...transport.http import async_client
from ...transport.streaming import send_streaming
from .grading import grade
from .questions import BUILTIN, CHOICE, QuestionSet

ANSWERS = "accuracy/answers.jsonl"
REPORT = "accuracy_report.json"
TABLE = "accuracy.md"
# The published figure a set is judged against, by the set's format when --accuracy-benchmark
# is not given: a GPQA CSV is GPQA diamond, a JSONL of integers AIME 2025 (the two sets the
# gpt-oss model card and the vLLM recipe publish per effort).
DEFAULT_BENCHMARK = {BUILTIN: "capitals", CHOICE: "gpqa_diamond", "exact": "aime25"}


class AccuracyError(ValueError):
    pass


@dataclass(frozen=True)
class Sampling:
    efforts: tuple[str, ...]
    repeats: int
    max_tokens: int
    temperature: float
    concurrency: int
    seed: int = 0


@dataclass
class Outcome:
    qset: QuestionSet
    benchmark: str
    sampling: Sampling
    rows: list[dict]                       # one per answer, as kept in answers.jsonl
    failed: list[str] = field(default_factory=list)   # errors of requests that failed
    reused: int = 0                        # answers kept from an earlier run
    wall_s: float = 0.0

    def scores(self, effort: str) -> dict[str, float]:
        """question id -> share of its repeats graded correct, at ``effort``."""
        got = defaultdict(list)
        for row in self.rows:
            if row["effort"] == effort:
                got[row["question"]].append(row["correct"])
        return {q: sum(v) / len(v) for q, v in got.items()}


def benchmark_of(qset: QuestionSet, named: str | None) -> str:
    if named:
        return named
    return DEFAULT_BENCHMARK[BUILTIN if qset.name == BUILTIN and qset.source == "built-in"
                             else qset.kind]


def context_of(qset: QuestionSet, sampling: Sampling, model: str, server: str) -> str:
    """What an answer was asked under: a kept answer is reused only when all of it matches."""
    what = [qset.fingerprint, sampling.max_tokens, sampling.temperature, sampling.seed, model,
            server]
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]


def ask(base_url: str, model: str, qset: QuestionSet, sampling: Sampling, results_dir: Path,
        server: str, api_key=None, benchmark: str | None = None,
        progress: Callable[[str], None] = print) -> Outcome:
    """Ask what is not yet answered, keeping each answer as it arrives."""
    path = Path(results_dir) / ANSWERS
    context = context_of(qset, sampling, model, server)
    kept = {_key(r): r for r in _read_answers(path) if r.get("context") == context}
    planned = [(effort, q, r) for effort in sampling.efforts for q in qset.questions
               for r in range(sampling.repeats)]
    todo = [p for p in planned if (p[0], p[1].id, p[2]) not in kept]
    reused = len(planned) - len(todo)
    progress(f"accuracy: {qset.name} ({qset.source}), {len(qset)} questions x "
             f"{sampling.repeats} repeats x {len(sampling.efforts)} efforts = {len(planned)} "
             f"answers of up to {sampling.max_tokens} tokens at concurrency "
             f"{sampling.concurrency}" + (f"; {reused} kept from {path}" if reused else ""))
    started = time.monotonic()
    failed: list[str] = []
    if todo:
        path.parent.mkdir(parents=True, exist_ok=True)
        from ...load import eventloop

        eventloop.run(_ask_all(base_url, model, api_key, todo, sampling, context, path,
                               kept, failed, progress))
    rows = [kept[(e, q.id, r)] for e, q, r in planned if (e, q.id, r) in kept]
    return Outcome(qset, benchmark_of(qset, benchmark), sampling, rows, failed, reused,
                   time.monotonic() - started)


async def _ask_all(base_url, model, api_key, todo, sampling: Sampling, context: str,
                   path: Path, kept: dict, failed: list[str], progress) -> None:
    slots = asyncio.Semaphore(sampling.concurrency)
    started, done, right = time.monotonic(), [0], [0]
    last_said = [started]

    async def one(http, effort, question, repeat) -> None:
        body = {"model": model, "max_tokens": sampling.max_tokens,
                "temperature": sampling.temperature, "reasoning_effort": effort,
                "messages": [{"role": "user", "content": question.prompt}]}
        if sampling.temperature > 0:  # a rerun of one repeat draws the same sample
            body["seed"] = sampling.seed + repeat
        async with slots:
            record = await send_streaming(http, "/v1/chat/completions", body,
                                          RequestRecord(start_ns=0))
        done[0] += 1
        if record.error:
            failed.append(f"{effort} {question.id} #{repeat}: {record.error}")
        else:
            row = _row(context, effort, question, repeat, record)
            kept[_key(row)] = row
            right[0] += row["correct"]
            with path.open("a", encoding="utf-8") as out:  # kept before the next arrives
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        now = time.monotonic()
        if now - last_said[0] >= 10 or done[0] == len(todo):
            last_said[0] = now
            left = (now - started) / done[0] * (len(todo) - done[0])
            progress(f"accuracy: {done[0]}/{len(todo)} answered, {right[0]} right, "
                     f"{len(failed)} failed; about {left / 60:.1f} min left")

    async with async_client(base_url, api_key, sampling.concurrency) as http:
        await asyncio.gather(*(one(http, e, q, r) for e, q, r in todo))


def _row(context: str, effort: str, question, repeat: int, record: RequestRecord) -> dict:
    graded = grade(question, record.text)
    return {"context": context, "effort": effort, "question": question.id, "repeat": repeat,
            "expected": question.answer, "extracted": graded.extracted,
            "correct": graded.correct, "reply": record.text,
            "reasoning_chars": len(record.reasoning),
            "completion_tokens": record.output_tokens, "finish_reason": record.finish_reason}


def _key(row: dict) -> tuple[str, str, int]:
    return row["effort"], row["question"], row["repeat"]


def _read_answers(path: Path) -> list[dict]:
    """Answers kept by earlier runs; a line cut short by a crash is dropped (asked again)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    rows = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and {"context", "effort", "question", "repeat"} <= set(row):
            rows.append(row)
    return rows


# --- the verdict --------------------------------------------------------------------------

def summary(outcome: Outcome, confidence: float) -> dict[str, dict]:
    """Per effort: accuracy, its interval, what it cost (tokens) and what went unanswered."""
    out = {}
    for effort in outcome.sampling.efforts:
        scores = outcome.scores(effort)
        rows = [r for r in outcome.rows if r["effort"] == effort]
        if len(scores) < len(outcome.qset):  # a failed request leaves a question unscored
            out[effort] = {"questions": len(scores), "answers": len(rows), "accuracy": None}
            continue
        low, high = stats.interval(list(scores.values()), confidence)
        tokens = [r["completion_tokens"] for r in rows if r["completion_tokens"] is not None]
        out[effort] = {
            "questions": len(scores), "answers": len(rows),
            "accuracy": sum(scores.values()) / len(scores), "low": low, "high": high,
            "tokens_mean": sum(tokens) / len(tokens) if tokens else None,
            "truncated": sum(r["finish_reason"] == "length" for r in rows),
            "no_answer": sum(r["extracted"] is None for r in rows)}
    return out


def baseline_correct(path: Path, qset: QuestionSet) -> dict[str, dict[str, bool]]:
    """A baseline run's answers (its accuracy/answers.jsonl): effort -> question -> right by
    majority of its repeats. The questions must be this set's."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise AccuracyError(f"--accuracy-baseline {path}: cannot be read ({exc})") from None
    got: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    ids = {q.id: q for q in qset.questions}
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
            effort, qid, correct = row["effort"], row["question"], row["correct"]
        except (ValueError, KeyError, TypeError) as exc:
            raise AccuracyError(f"--accuracy-baseline {path}:{number}: not an answer of this "
                                f"suite's answers.jsonl ({type(exc).__name__}: {exc})") from None
        if qid not in ids:
            raise AccuracyError(f"--accuracy-baseline {path}:{number}: question {qid!r} is not "
                                f"in {qset.source}: the baseline answered another set")
        if row.get("expected") != ids[qid].answer:
            raise AccuracyError(f"--accuracy-baseline {path}:{number}: question {qid!r} expects "
                                f"{row.get('expected')!r} there, {ids[qid].answer!r} here (a "
                                "multiple-choice set shuffled with another --accuracy-seed?)")
        got[effort][qid].append(bool(correct))
    return {e: {q: sum(v) * 2 > len(v) for q, v in by_q.items()} for e, by_q in got.items()}


def paired(outcome: Outcome, baseline: dict[str, dict[str, bool]]) -> dict[str, stats.Paired]:
    out = {}
    for effort in outcome.sampling.efforts:
        theirs = baseline.get(effort, {})
        scores = outcome.scores(effort)
        common = [q.id for q in outcome.qset.questions if q.id in theirs and q.id in scores]
        if common:
            out[effort] = stats.mcnemar([theirs[q] for q in common],
                                        [scores[q] > 0.5 for q in common])
    return out


def gates(outcome: Outcome, table: dict, source: Callable[[str], str],
          pairs: dict[str, stats.Paired] | None = None) -> dict[str, dict[str, Gate]]:
    """``{"accuracy": {effort: gate}, "paired": {effort: gate}}``: the interval's top against
    published - margin at each effort; given a baseline, the paired test's p-value against
    paired_alpha."""
    found = summary(outcome, table["confidence"])
    published = table["published"].get(outcome.benchmark)
    margin, level = table["margin"], f"{100 * table['confidence']:g} %"
    out: dict[str, dict[str, Gate]] = {"accuracy": {}, "paired": {}}
    for effort, row in found.items():
        name = f"accuracy ({outcome.benchmark}, {effort}), top of the {level} interval"
        if published is None or effort not in published:
            out["accuracy"][effort] = Gate(name, None, ">=", 0.0, note=(
                f"no published figure for {outcome.benchmark!r} at {effort} in this profile "
                f"(accuracy.published); benchmarks there: {', '.join(table['published'])}"))
            continue
        bound = published[effort] - margin
        note = _failed_note(outcome) if row["accuracy"] is None else (
            f"accuracy {row['accuracy']:.3f} in [{row['low']:.3f}, {row['high']:.3f}] over "
            f"{row['questions']} questions; published {published[effort]:g} - margin "
            f"{margin:g}; {max(0.0, bound - row['high']):.3f} short at {effort}")
        out["accuracy"][effort] = Gate(
            name, None if row["accuracy"] is None else row["high"], ">=", bound,
            evidence=f"{REPORT}:efforts.{effort}",
            source=f"{source('published')}.{outcome.benchmark}.{effort} minus margin",
            note=note)
    for effort, test in (pairs or {}).items():
        out["paired"][effort] = Gate(
            f"paired McNemar p ({effort}): answers as the baseline's", test.p_value, ">=",
            table["paired_alpha"], evidence=f"{REPORT}:paired.{effort}",
            source=source("paired_alpha"),
            note=(f"{test.questions} questions: baseline alone right on {test.only_baseline}, "
                  f"this deployment alone on {test.only_deployment}; agreement "
                  f"{test.agreement:.3f}"))
    return out


def _failed_note(outcome: Outcome) -> str:
    first = outcome.failed[0] if outcome.failed else "no answer"
    return (f"{len(outcome.failed)} requests failed, so some questions have no answer (first: "
            f"{first}); they are asked again on the next run")


def write(outcome: Outcome, table: dict, judged: dict[str, dict[str, Gate]],
          results_dir: Path, pairs: dict[str, stats.Paired] | None = None,
          reasoning_grows: bool = True) -> None:
    """accuracy_report.json and accuracy.md; ``reasoning_grows``: whether the profile's model
    spends more at higher effort (the canary does not), so equal lengths are worth a word."""
    found = summary(outcome, table["confidence"])
    gate_list = [g for by_effort in judged.values() for g in by_effort.values()]
    data = {"set": {"name": outcome.qset.name, "source": outcome.qset.source,
                    "kind": outcome.qset.kind, "questions": len(outcome.qset),
                    "fingerprint": outcome.qset.fingerprint, "seed": outcome.qset.seed},
            "benchmark": outcome.benchmark, "sampling": outcome.sampling.__dict__,
            "efforts": found, "reused_answers": outcome.reused, "failed": outcome.failed,
            "wall_s": round(outcome.wall_s, 1),
            "paired": {e: p.__dict__ for e, p in (pairs or {}).items()},
            "gates": [{"name": g.name, "status": g.status, "message": g.message()}
                      for g in gate_list]}
    results_dir = Path(results_dir)
    write_json_atomic(results_dir / REPORT, data)
    write_text_atomic(results_dir / TABLE,
                      markdown(outcome, table, found, judged["accuracy"], pairs, reasoning_grows))


def markdown(outcome: Outcome, table: dict, found: dict, by_effort: dict[str, Gate],
             pairs: dict[str, stats.Paired] | None, reasoning_grows: bool = True) -> str:
    published = table["published"].get(outcome.benchmark, {})
    level = f"{100 * table['confidence']:g} %"
    lines = [(f"Set: {outcome.qset.name} ({outcome.qset.source}, {len(outcome.qset)} questions, "
             f"{outcome.qset.kind}), judged as {outcome.benchmark}; {outcome.sampling.repeats} "
             f"repeat(s), temperature {outcome.sampling.temperature:g}, up to "
             f"{outcome.sampling.max_tokens} tokens."), "",
             (f"| effort | accuracy | {level} interval | published | bound | verdict | "
             "tokens / answer | truncated | no answer found |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for effort, row in found.items():
        gate = by_effort.get(effort)
        verdict = gate.status if gate else "NOT MEASURED"
        pub = published.get(effort)
        if row["accuracy"] is None:
            lines.append(f"| {effort} | - | - | {_num(pub)} | - | {verdict} | - | - | - |")
            continue
        lines.append(
            f"| {effort} | {row['accuracy']:.1%} | [{row['low']:.1%}, {row['high']:.1%}] | "
            f"{_num(pub)} | {_num(None if pub is None else pub - table['margin'])} | "
            f"{verdict} | {_num(row['tokens_mean'], 0)} | {row['truncated']} | "
            f"{row['no_answer']} |")
    tokens = [found[e].get("tokens_mean") for e in found]
    if (reasoning_grows and len(tokens) > 1 and None not in tokens
            and max(tokens) - min(tokens) < 0.05 * max(tokens)):
        lines += ["", ("Every effort spent about as many tokens: is the reasoning effort applied "
                      "(the chat template's `Reasoning:` line)?")]
    if pairs:
        lines += ["", ("| effort | paired questions | agreement | baseline alone right | "
                      "this deployment alone right | McNemar p |"), "|---|---|---|---|---|---|"]
        for effort, p in pairs.items():
            lines.append(f"| {effort} | {p.questions} | {p.agreement:.1%} | {p.only_baseline} "
                         f"| {p.only_deployment} | {p.p_value:.3g} |")
    if outcome.reused:
        lines += ["", f"{outcome.reused} answers were kept from an earlier run ({ANSWERS})."]
    return "\n".join(lines) + "\n"


def _num(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if digits else f"{value:.0f}"
