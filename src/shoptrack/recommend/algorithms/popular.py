"""Popularity: the baseline, the time-decayed variant, and session popularity."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from shoptrack.recommend.algorithms.base import EMPTY_ITEMS, EMPTY_SCORES, Recommender
from shoptrack.recommend.algorithms.data import FloatArray, IntArray, Sessions


class Popularity(Recommender):
    """The most clicked items, the same for everyone; the prefix is ignored.

    With ``half_life`` (seconds) each click counts ``0.5 ** (age / half_life)``, age measured
    from the end of the training data: "trending" rather than "all-time popular".
    """

    name: ClassVar[str] = "popular"

    def __init__(self, half_life: float | None = None) -> None:
        super().__init__()
        self.half_life = half_life
        self._scores: FloatArray = EMPTY_SCORES
        self._order: IntArray = EMPTY_ITEMS

    def _fit(self, sessions: Sessions) -> None:
        if self.half_life is None:
            self._scores = self.popularity
        else:
            age = self.last_time - sessions.times
            weights = np.exp2(-age / self.half_life)
            self._scores = np.bincount(
                sessions.items, weights=weights, minlength=self.n_items
            ).astype(np.float64)
        self._order = np.lexsort((self._pop_rank, -self._scores)).astype(np.int64)

    def _candidates(self, prefix: IntArray, now: float, want: int) -> tuple[IntArray, FloatArray]:
        top = self._order[:want]
        return top, self._scores[top]


class SessionPopularity(Recommender):
    """Items of the current session first (most repeated first), then the popular ones.

    Strong where visitors go back to what they have seen (clicks on e-commerce sites repeat
    a lot); it is also what a "recently viewed" block is made of.
    """

    name: ClassVar[str] = "session-popular"

    def _fit(self, sessions: Sessions) -> None:
        pass

    def _candidates(self, prefix: IntArray, now: float, want: int) -> tuple[IntArray, FloatArray]:
        if prefix.size == 0:
            return EMPTY_ITEMS, EMPTY_SCORES
        items, counts = np.unique(prefix, return_counts=True)
        # The last click breaks ties between equally repeated items before popularity does:
        # a small bonus, below one repeat, growing with the position of the last occurrence.
        last_pos = np.zeros(self.n_items)
        last_pos[prefix] = np.arange(1, prefix.size + 1)
        return items, counts + 0.5 * last_pos[items] / prefix.size
