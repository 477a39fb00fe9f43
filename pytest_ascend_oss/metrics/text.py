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
    """A lower bound on KL(reference || candidate) from two top-k lists of logprobs.

    Top-k lists never cover the vocabulary, so the KL is taken over coarser outcomes: each token
    both lists hold, "missing" (the reference's tokens absent from the candidate's list) and
    "rest" (everything else). The candidate's mass on "missing" is unknown: at most what its
    list leaves unassigned, and at most its smallest listed probability per token; it is set to
    the value in that range that makes the KL smallest. Coarsening never raises a KL, so the
    figure never exceeds the true one, and it is 0 only where the lists agree. (Counting only
    the tokens both lists hold, as before, read two disjoint lists as KL 0: full agreement.)
    """
    if not reference:
        raise ValueError("KL over an empty reference top-k list")
    p = {t: math.exp(lp) for t, lp in reference.items()}
    q = {t: math.exp(lp) for t, lp in candidate.items()}
    shared = [t for t in p if t in q]
    missing = [t for t in p if t not in q]
    kl = sum(p[t] * (reference[t] - candidate[t]) for t in shared)
    p_missing = sum(p[t] for t in missing)
    p_rest = max(1.0 - sum(p.values()), 0.0)
    q_free = max(1.0 - sum(q[t] for t in shared), 0.0)  # the candidate's mass off the shared
    cap = min(max(1.0 - sum(q.values()), 0.0), len(missing) * min(q.values(), default=1.0))
    if p_missing + p_rest > 0:
        q_missing = min(q_free * p_missing / (p_missing + p_rest), cap)  # the KL's minimiser
        for p_out, q_out in ((p_missing, q_missing), (p_rest, q_free - q_missing)):
            if p_out > 0:
                kl += p_out * math.log(p_out / max(q_out, 1e-12))
    return max(kl, 0.0)


def top1(logprobs: dict[int, float]) -> int:
    return max(logprobs, key=logprobs.get)
