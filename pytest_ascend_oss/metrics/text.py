"""Agreement between two generations: token ids, text, and probabilities. Pure functions.

ROUGE-L uses rouge-score's LCS implementation with our tokenizer: rouge-score's default
tokenizer keeps only [a-z0-9] runs, so two identical Chinese texts would score 0 (DESIGN.md).
"""

from __future__ import annotations

import math
import re

from rouge_score import rouge_scorer

# CJK ideographs, kana, hangul and CJK punctuation are one token each; other scripts go by word.
_CJK = (r"[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
        r"\uff00-\uffef]")
_TOKEN = re.compile(rf"{_CJK}|[^\W\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
                    rf"\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]+", re.UNICODE)


class CJKTokenizer:
    """rouge-score tokenizer: every CJK character a token, other word runs lower-cased."""

    def tokenize(self, text: str) -> list[str]:
        return [t.lower() for t in _TOKEN.findall(text or "")]


_SCORER = rouge_scorer.RougeScorer(["rougeL"], tokenizer=CJKTokenizer())


def rouge_l(reference: str, candidate: str) -> float:
    """ROUGE-L F1. Two texts with no tokens at all are identical (1.0), not "unscorable"."""
    tokenizer = CJKTokenizer()
    if not tokenizer.tokenize(reference) and not tokenizer.tokenize(candidate):
        return 1.0
    return _SCORER.score(reference, candidate)["rougeL"].fmeasure


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def common_prefix_fraction(reference: list[int], candidate: list[int]) -> float:
    longest = max(len(reference), len(candidate))
    return 1.0 if longest == 0 else common_prefix(reference, candidate) / longest


def perplexity(logprobs: list[float]) -> float:
    return math.exp(-sum(logprobs) / len(logprobs))


def relative_difference(measured: float, reference: float) -> float:
    return abs(measured - reference) / reference


def kl_top_k(reference: dict[int, float], candidate: dict[int, float]) -> float:
    """KL(reference || candidate) over the tokens both top-k lists hold, the rest of each
    distribution lumped into one "tail" outcome (top-k lists never cover the whole vocab)."""
    shared = reference.keys() & candidate.keys()
    p = {t: math.exp(reference[t]) for t in shared}
    q = {t: math.exp(candidate[t]) for t in shared}
    p_tail = max(1.0 - sum(p.values()), 0.0)
    q_tail = max(1.0 - sum(q.values()), 1e-12)
    kl = sum(p[t] * (reference[t] - candidate[t]) for t in shared)
    if p_tail > 0:
        kl += p_tail * math.log(p_tail / q_tail)
    return max(kl, 0.0)


def top1(logprobs: dict[int, float]) -> int:
    return max(logprobs, key=logprobs.get)
