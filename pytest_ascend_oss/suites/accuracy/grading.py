"""Finding the answer in a reply and judging it, as the published figures' harness does, within
the limits written down in docs/accuracy.md ("Grading").

Only the final answer is graded (the chat ``content``): gpt-oss's analysis channel weighs up
every option, and scoring it would credit a model for a letter it rejected (lighteval #869,
lm-eval #3216 describe that pitfall). The reasoning is counted, never read.

Multiple choice (the reference: openai/gpt-oss ``gpt_oss/evals/abcd_grader.py``, an ordered list
of patterns): an ``Answer: X`` label (markdown or parentheses around the letter allowed) wins,
then ``Option``/``Choice X``, then ``\\boxed{X}``, then a bare ``(X)``, then a reply that is only
the letter. Where the reference takes the first label, we take the last: a reply that says
"Answer: A ... on reflection, Answer: C" means C.

Exact answers (the reference: ``gpt_oss/evals/aime_eval.py``): the last ``\\boxed{...}`` (its
last comma-separated part), else an ``Answer:`` line, else for an integer answer the last
integer in the reply. An integer answer must equal it as an integer (``042`` is 42); a text
answer must appear as a whole phrase in the extracted text, compared without case, accents,
punctuation or articles (the canary says "The capital of Peru is Lima.").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .questions import CHOICE, Question

_WRAP = r"[*_]{0,2}"
_CHOICE_PATTERNS = (
    re.compile(rf"\banswers?\b{_WRAP}\s*[:\-–]?\s*{_WRAP}\s*[(\[]?\s*([ABCD])\b", re.IGNORECASE),
    re.compile(r"\b(?:option|choice)\b\s*[:\-–]?\s*\(?([ABCD])\b", re.IGNORECASE),
    re.compile(r"\\boxed\{[^}]*?\b([ABCD])\b[^}]*\}"),
    re.compile(r"(?<![A-Za-z0-9])[(\[]\s*([ABCD])\s*[)\]](?![A-Za-z0-9])"),
)
_ONLY_LETTER = re.compile(r"\s*[*_]{0,2}\s*\(?([ABCD])\)?\s*[*_]{0,2}\s*[.):]?\s*", re.IGNORECASE)
_BOXED = re.compile(r"\\(?:boxed|framebox)\{((?:[^{}]|\{[^{}]*\})*)\}")
_ANSWER_LINE = re.compile(r"^\s*[*_]{0,2}\s*(?:final\s+)?answer\s*[*_]{0,2}\s*[:：]\s*(.+?)\s*$",
                          re.IGNORECASE | re.MULTILINE)
_INTEGER = re.compile(r"-?\d[\d,]*")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


@dataclass(frozen=True)
class Grade:
    extracted: str | None   # what was taken as the answer (None: nothing found)
    correct: bool


def grade(question: Question, reply: str) -> Grade:
    if question.kind == CHOICE:
        letter = extract_letter(reply)
        return Grade(letter, letter == question.answer)
    found = extract_exact(reply, integer=_is_integer(question.answer))
    return Grade(found, found is not None and matches(found, question.answer))


def extract_letter(reply: str) -> str | None:
    for pattern in _CHOICE_PATTERNS:
        found = pattern.findall(reply)
        if found:
            return found[-1].upper()
    only = _ONLY_LETTER.fullmatch(reply)
    return only.group(1).upper() if only else None


def extract_exact(reply: str, integer: bool) -> str | None:
    boxed = _BOXED.findall(reply)
    if boxed:
        return boxed[-1].split(",")[-1].strip() if integer else boxed[-1].strip()
    lines = _ANSWER_LINE.findall(reply)
    if lines:
        return lines[-1]
    if integer:
        numbers = _INTEGER.findall(reply)
        return numbers[-1] if numbers else None
    return reply.strip() or None


def matches(extracted: str, expected: str) -> bool:
    if _is_integer(expected):
        numbers = _INTEGER.findall(extracted)
        return len(numbers) == 1 and int(numbers[0].replace(",", "")) == int(expected)
    want = normalize(expected)
    return bool(want) and re.search(rf"(?<!\w){re.escape(want)}(?!\w)",
                                     normalize(extracted)) is not None


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _is_integer(answer: str) -> bool:
    return re.fullmatch(r"-?\d+", answer.strip()) is not None
