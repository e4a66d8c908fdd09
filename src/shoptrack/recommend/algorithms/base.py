"""The contract every recommendation algorithm keeps, and the ranking rule they share.

An algorithm is fitted once on training :class:`~shoptrack.recommend.algorithms.data.Sessions` (the
worker's job) and then answers ``recommend(prefix_items, k, exclude=...)`` many times (the
serving path), so fitting precomputes arrays and a call only gathers and sorts a few hundred
numbers.

The shared rule, in :meth:`Recommender.recommend`:

* an algorithm proposes candidates with positive scores from the prefix;
* equal scores are ordered by global popularity (training click count), then by item index:
  a rule that cannot see the answer, so a tie is never resolved in the answer's favour;
* when it has fewer than ``k`` candidates (a new shop, an unknown item, an empty prefix)
  the rest is filled with the most popular items, so a block is never empty while the
  training data has any item at all.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np

from shoptrack.recommend.algorithms.data import FloatArray, IntArray, Sessions

EMPTY_ITEMS: IntArray = np.zeros(0, dtype=np.int64)
EMPTY_SCORES: FloatArray = np.zeros(0, dtype=np.float64)

# Scores that agree to this relative precision are a tie: sums taken in a different order can
# differ in their last bits, and that noise must not decide between two equally good items.
_TIE_RESOLUTION = 1e9


def as_index_array(values: Sequence[int] | IntArray | None) -> IntArray:
    if values is None:
        return EMPTY_ITEMS
    return np.asarray(values, dtype=np.int64).ravel()


def gather_slices(offsets: IntArray, values: IntArray, rows: IntArray, cap: int = 0) -> IntArray:
    """``values[offsets[r]:offsets[r+1]]`` for every ``r`` in ``rows``, concatenated.

    With ``cap > 0`` each slice is cut to its first ``cap`` values.
    """
    return values[slice_positions(offsets, rows, cap)[0]]


def slice_positions(offsets: IntArray, rows: IntArray, cap: int = 0) -> tuple[IntArray, IntArray]:
    """Positions into the CSR values for ``rows`` (see :func:`gather_slices`) and the length
    taken from each row."""
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    if cap > 0:
        lengths = np.minimum(lengths, cap)
    total = int(lengths.sum())
    if total == 0:
        return EMPTY_ITEMS, lengths
    # Position j of the output belongs to row r = repeat(...) and sits at starts[r] + (j - the
    # output start of row r): one vectorised arange instead of a Python loop over rows.
    out_starts = np.cumsum(lengths) - lengths
    positions = np.arange(total, dtype=np.int64) + np.repeat(starts - out_starts, lengths)
    return positions, lengths


def sum_by_item(items: IntArray, weights: FloatArray) -> tuple[IntArray, FloatArray]:
    """Distinct ``items`` with the sum of their ``weights``."""
    if items.size == 0:
        return EMPTY_ITEMS, EMPTY_SCORES
    uniq, inverse = np.unique(items, return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=weights, minlength=uniq.size).astype(np.float64)
    return uniq, sums


class Recommender(ABC):
    """Base class: popularity bookkeeping, fallback and the shared ranking rule."""

    name: ClassVar[str] = "recommender"

    def __init__(self) -> None:
        self.n_items = 0
        self.popularity: FloatArray = EMPTY_SCORES
        self.last_time = 0.0
        self._pop_order: IntArray = EMPTY_ITEMS
        self._pop_rank: IntArray = EMPTY_ITEMS

    def fit(self, sessions: Sessions) -> Self:
        """Learn from training sessions (all of their clicks, in time order)."""
        n = sessions.n_items
        counts = np.bincount(sessions.items, minlength=n).astype(np.float64)
        self.n_items = n
        self.popularity = counts
        self._pop_order = np.lexsort((np.arange(n), -counts)).astype(np.int64)
        self._pop_rank = np.empty(n, dtype=np.int64)
        self._pop_rank[self._pop_order] = np.arange(n)
        self.last_time = float(sessions.times.max()) if sessions.items.size else 0.0
        self._fit(sessions)
        return self

    def recommend(
        self,
        prefix_items: Sequence[int] | IntArray,
        k: int = 20,
        exclude: Sequence[int] | IntArray | None = None,
        now: float | None = None,
    ) -> tuple[IntArray, FloatArray]:
        """The ``k`` best item indices after ``prefix_items`` (oldest first) and their scores.

        ``exclude`` items never appear. ``now`` is the time of the request (unix seconds) for
        algorithms that weigh recency; without it the end of the training data is used.
        Items that only the popularity fallback supplied have score 0.
        """
        if k <= 0 or self.n_items == 0:
            return EMPTY_ITEMS, EMPTY_SCORES
        prefix = as_index_array(prefix_items)
        prefix = prefix[(prefix >= 0) & (prefix < self.n_items)]
        excluded = np.unique(as_index_array(exclude))
        when = self.last_time if now is None else float(now)
        items, scores = self._candidates(prefix, when, k + excluded.size)
        return self._rank(items, scores, k, excluded)

    @abstractmethod
    def _fit(self, sessions: Sessions) -> None:
        """Algorithm-specific training (popularity is already known)."""

    @abstractmethod
    def _candidates(self, prefix: IntArray, now: float, want: int) -> tuple[IntArray, FloatArray]:
        """Distinct candidate items with scores (only positive scores count).

        ``prefix`` holds only known items and may be empty; ``want`` is how many ranked items
        the caller needs before exclusions, a hint for algorithms with a fixed order.
        """

    def _rank(
        self, items: IntArray, scores: FloatArray, k: int, excluded: IntArray
    ) -> tuple[IntArray, FloatArray]:
        keep = scores > 0
        if excluded.size:
            keep &= ~np.isin(items, excluded)
        items, scores = items[keep], scores[keep]
        if items.size:
            key = np.round(scores * (_TIE_RESOLUTION / scores.max()))
            if items.size > k:
                # Everything tied with the k-th best stays in, so the tie rule below decides.
                threshold = np.partition(key, items.size - k)[items.size - k]
                top = key >= threshold
                items, scores, key = items[top], scores[top], key[top]
            order = np.lexsort((self._pop_rank[items], -key))[:k]
            items, scores = items[order], scores[order]
        if items.size < k:
            fill = self.popular_fill(k - items.size, np.concatenate((items, excluded)))
            items = np.concatenate((items, fill))
            scores = np.concatenate((scores, np.zeros(fill.size)))
        return items, scores

    def popular_fill(self, need: int, taken: IntArray) -> IntArray:
        """The ``need`` most popular items not in ``taken``."""
        pool = self._pop_order[: need + taken.size]
        if taken.size:
            pool = pool[~np.isin(pool, taken)]
        return pool[:need]
