"""A weighted blend of recommenders.

Each part's candidate scores are divided by that part's best score for the request
(``normalise="max"``) or by their total (``"sum"``, a distribution over candidates), so the
blend weights mean "how much of the vote" whatever scale each algorithm's scores have.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np

from shoptrack.recommend.algorithms.base import EMPTY_ITEMS, EMPTY_SCORES, Recommender, sum_by_item
from shoptrack.recommend.algorithms.data import FloatArray, IntArray, Sessions


class Blend(Recommender):
    name: ClassVar[str] = "blend"

    def __init__(
        self,
        parts: Sequence[Recommender],
        weights: Sequence[float],
        normalise: Literal["max", "sum"] = "max",
    ) -> None:
        super().__init__()
        self.normalise = normalise
        if len(parts) != len(weights) or not parts:
            raise ValueError("a blend needs one weight per part, and at least one part")
        self.parts = list(parts)
        self.weights = [float(w) for w in weights]

    def _fit(self, sessions: Sessions) -> None:
        for part in self.parts:
            part.fit(sessions)

    def _candidates(self, prefix: IntArray, now: float, want: int) -> tuple[IntArray, FloatArray]:
        items: list[IntArray] = []
        scores: list[FloatArray] = []
        for part, weight in zip(self.parts, self.weights, strict=True):
            cand, score = part._candidates(prefix, now, want)
            positive = score > 0
            if positive.any():
                items.append(cand[positive])
                kept = score[positive]
                scale = kept.max() if self.normalise == "max" else kept.sum()
                scores.append(kept * (weight / scale))
        if not items:
            return EMPTY_ITEMS, EMPTY_SCORES
        return sum_by_item(np.concatenate(items), np.concatenate(scores))
