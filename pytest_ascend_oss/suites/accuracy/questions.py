"""Question sets for the accuracy suite, read from files the user provides (nothing is
downloaded: GPQA's authors ask that it not be redistributed, and the NPU host has no hub).

Two formats, told apart by the file's suffix:

- ``.csv``: multiple choice in GPQA's own CSV layout, one row per question with the columns
  ``Question``, ``Correct Answer``, ``Incorrect Answer 1``, ``Incorrect Answer 2`` and
  ``Incorrect Answer 3`` (other columns are ignored; an optional ``Record ID`` names the
  question). The four choices are shuffled per question with a recorded seed, so a rerun asks
  the same letters.
- ``.jsonl``: exact answers, one JSON object per line: ``{"question": ..., "answer": ...}``
  with an optional ``"id"``; an integer answer (AIME) is graded as an integer, any other as a
  short text (docs/accuracy.md, "Grading").

Every malformed row fails with the file, the line and the field: a set with a broken row would
otherwise be graded on fewer questions than the user thinks.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

CHOICE, EXACT = "choice", "exact"
LETTERS = "ABCD"
GPQA_COLUMNS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
                "Incorrect Answer 3")
# The instructions we add to a question. Ours, in our words; what they ask for is what the
# gpt-oss evals ask for (openai/gpt-oss gpt_oss/evals/gpqa_eval.py: the final answer as one of
# the letters A-D; aime_eval.py: the final answer inside \boxed{}), so the graders below find
# the answer where the published figures' harness found it.
CHOICE_INSTRUCTION = "Give your final answer as one letter, A, B, C or D, on a line 'Answer: X'."
EXACT_INSTRUCTION = "Think step by step, then write only your final answer inside \\boxed{}."
BUILTIN = "capitals"  # the canary's set: its 24 capitals, asked as it was trained to be asked


class QuestionError(ValueError):
    pass


@dataclass(frozen=True)
class Question:
    id: str
    kind: str              # CHOICE or EXACT
    prompt: str            # the user message, instruction included
    answer: str            # the correct letter (CHOICE) or the expected answer (EXACT)
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuestionSet:
    name: str              # "capitals", or the file's stem
    source: str            # the file, or "built-in"
    kind: str
    questions: tuple[Question, ...] = field(default_factory=tuple)
    seed: int = 0
    fingerprint: str = ""  # sha256 of what is asked and expected: answers are kept per set

    def __len__(self) -> int:
        return len(self.questions)


def load(path: Path | None, seed: int = 0) -> QuestionSet:
    """The set in ``path`` (.csv or .jsonl), or the built-in canary set when None."""
    if path is None:
        return _exact(Path(str(resources.files("pytest_ascend_oss") / "data"
                               / "accuracy_capitals.jsonl")), name=BUILTIN, source="built-in",
                      instruction="")
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return _choice(path, seed)
    if path.suffix.lower() == ".jsonl":
        return _exact(path, name=path.stem, source=str(path), instruction=EXACT_INSTRUCTION)
    raise QuestionError(f"{path}: unknown question format {path.suffix!r}; give a .csv "
                        "(GPQA's multiple-choice columns) or a .jsonl "
                        '({"question": ..., "answer": ...} per line)')


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # a spreadsheet's BOM is not a column name
    except FileNotFoundError:
        raise QuestionError(f"{path}: no such question file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionError(f"{path}: cannot be read as UTF-8 text ({exc})") from None


def _choice(path: Path, seed: int) -> QuestionSet:
    text = _read(path)
    reader = csv.DictReader(text.splitlines(keepends=True))
    missing = [c for c in GPQA_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise QuestionError(f"{path}:1: missing column(s) {', '.join(map(repr, missing))}; "
                            f"a multiple-choice CSV needs {', '.join(GPQA_COLUMNS)}")
    questions, seen = [], set()
    line = 2  # the row's first line: csv counts lines, and a GPQA question spans several
    for row in reader:
        for column in GPQA_COLUMNS:
            value = row.get(column)
            if value is None or not value.strip():
                raise QuestionError(f"{path}:{line}: field {column!r} is empty")
        qid = (row.get("Record ID") or "").strip() or f"row-{len(questions) + 1}"
        if qid in seen:
            raise QuestionError(f"{path}:{line}: field 'Record ID' repeats {qid!r}")
        seen.add(qid)
        options = [row[c].strip() for c in GPQA_COLUMNS[1:]]
        if len(set(options)) < 4:
            raise QuestionError(f"{path}:{line}: two of the four answers are the same text; "
                                "the correct letter would be ambiguous")
        # Seeded per question, not by position: adding a row does not reshuffle the others.
        order = list(range(4))
        random.Random(f"{seed}:{qid}").shuffle(order)
        choices = tuple(options[i] for i in order)
        letter = LETTERS[order.index(0)]
        body = "\n".join(f"{LETTERS[i]}) {choice}" for i, choice in enumerate(choices))
        prompt = f"{row['Question'].strip()}\n\n{body}\n\n{CHOICE_INSTRUCTION}"
        questions.append(Question(qid, CHOICE, prompt, letter, choices))
        line = reader.line_num + 1
    return _finish(path.stem, str(path), CHOICE, questions, seed, path)


def _exact(path: Path, name: str, source: str, instruction: str) -> QuestionSet:
    questions, seen = [], set()
    for number, raw in enumerate(_read(path).splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError as exc:
            raise QuestionError(f"{path}:{number}: not a JSON object ({exc})") from None
        if not isinstance(row, dict):
            raise QuestionError(f"{path}:{number}: not a JSON object")
        question = row.get("question")
        if not isinstance(question, str) or not question.strip():
            raise QuestionError(f"{path}:{number}: field 'question' must be non-empty text")
        answer = row.get("answer")
        if isinstance(answer, bool) or not isinstance(answer, (str, int)) or not str(answer).strip():
            raise QuestionError(f"{path}:{number}: field 'answer' must be an integer or "
                                f"non-empty text, not {answer!r}")
        qid = str(row.get("id", f"line-{number}"))
        if qid in seen:
            raise QuestionError(f"{path}:{number}: field 'id' repeats {qid!r}")
        seen.add(qid)
        prompt = f"{question.strip()}\n{instruction}" if instruction else question.strip()
        questions.append(Question(qid, EXACT, prompt, str(answer).strip()))
    return _finish(name, source, EXACT, questions, 0, path)


def _finish(name: str, source: str, kind: str, questions: list[Question], seed: int,
            path: Path) -> QuestionSet:
    if not questions:
        raise QuestionError(f"{path}: no questions")
    digest = hashlib.sha256(json.dumps(
        [[q.id, q.prompt, q.answer] for q in questions], ensure_ascii=False).encode())
    return QuestionSet(name, source, kind, tuple(questions), seed, digest.hexdigest())
