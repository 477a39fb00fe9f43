"""Accuracy over a question set, its uncertainty, and whether two deployments answer the same
questions differently beyond chance. Definitions in docs/accuracy.md.

- Accuracy: the mean over questions of each question's score (the share of its repeats graded
  correct), so a question asked eight times weighs as much as one asked once.
- Interval: a percentile bootstrap over questions (scipy.stats.bootstrap): the questions are
  the sample; the repeats of one question are not independent draws of the set.
- Paired test: exact McNemar on the questions where exactly one deployment is right (a two-
  sided binomial test of the discordant pairs, scipy.stats.binomtest); two means side by side
  cannot tell "answers other questions" from "answers as many".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def interval(scores: Sequence[float], confidence: float = 0.95, resamples: int = 2000,
             seed: int = 0) -> tuple[float, float]:
    """The ``confidence`` bootstrap interval of the mean of ``scores`` (one per question)."""
    from scipy import stats  # only where an interval is asked for

    data = np.asarray(scores, dtype=float)
    if data.size == 0:
        raise ValueError("no scores: an interval needs at least one question")
    if np.all(data == data[0]):  # every resample is the same mean
        return float(data[0]), float(data[0])
    found = stats.bootstrap((data,), np.mean, confidence_level=confidence,
                            n_resamples=resamples, method="percentile",
                            rng=np.random.default_rng(seed))
    return float(found.confidence_interval.low), float(found.confidence_interval.high)


@dataclass(frozen=True)
class Paired:
    questions: int          # answered by both
    both_right: int
    both_wrong: int
    only_baseline: int      # the baseline right, the deployment wrong
    only_deployment: int
    p_value: float          # exact McNemar, two-sided (1.0 when no question is discordant)

    @property
    def agreement(self) -> float:
        return (self.both_right + self.both_wrong) / self.questions if self.questions else 0.0


def mcnemar(baseline: Sequence[bool], deployment: Sequence[bool]) -> Paired:
    """Paired right/wrong per question (same order, same questions) -> the exact test."""
    from scipy import stats

    if len(baseline) != len(deployment):
        raise ValueError(f"{len(baseline)} baseline answers for {len(deployment)} questions")
    pairs = list(zip(map(bool, baseline), map(bool, deployment)))
    only_b = sum(b and not d for b, d in pairs)
    only_d = sum(d and not b for b, d in pairs)
    discordant = only_b + only_d
    p = stats.binomtest(only_b, discordant, 0.5).pvalue if discordant else 1.0
    return Paired(len(pairs), sum(b and d for b, d in pairs),
                  sum(not b and not d for b, d in pairs), only_b, only_d, float(p))
