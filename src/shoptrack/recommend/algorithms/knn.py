"""Session neighbourhoods: SKNN, V-SKNN, STAN and VSTAN as one parameterised model.

The idea (Jannach & Ludewig's SKNN; Garg et al.'s STAN; Ludewig et al.'s VSTAN): find past
sessions that share items with the current one, weigh each by how similar (and how recent) it
is, and score every item of the ``k`` best neighbours by the weights of the neighbours that
hold it. The variants differ only in the weights, so they are parameters here:

* ``prefix_weighting`` — how much each item of the current session counts by its position
  (``"same"`` for SKNN; ``"div"``/``"linear"`` for V-SKNN; ``"exp"`` with ``prefix_decay``
  for STAN's λ1, ``exp((p - l) / λ1)``): the last click says most about what comes next;
* ``similarity`` — ``"cosine"`` divides the weighted overlap by ``sqrt(|s| |n|)``
  (distinct items), ``"dot"`` keeps the raw overlap;
* ``recency`` — STAN's λ2 in seconds: a neighbour that ended ``Δt`` before now weighs
  ``exp(-Δt / λ2)``;
* ``neighbour_decay`` — STAN's λ3: an item ``d`` positions away, in the neighbour, from the
  neighbour's copy of the most recent shared item weighs ``exp(-|d| / λ3)``;
  ``before_weight`` scales items that came *before* that copy (VSTAN's sequence awareness:
  what followed the shared item is the better guess for what follows now);
* ``idf`` — VSTAN's and V-SKNN's IDF: a candidate's score is multiplied by
  ``log(N / df) ** idf``, so items in every session stop drowning the specific ones.

Neighbour search is exact over the ``sample_size`` most recent sessions that share an item
with the prefix; per-item session lists are kept newest first, so that sample is a prefix of
each list and a call never reads more than ``sample_size`` sessions per prefix item. Serving
gives a visitor's last 50 views, so a call gathers up to 50 × ``sample_size`` session ids:
they are merged as *recency ranks* (0 is the session that ended last), under which every list
is ascending, so the sample is the smallest ranks and, when they are dense enough, a counting
pass finds them instead of a sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np

from shoptrack.recommend.algorithms.base import (
    EMPTY_ITEMS,
    EMPTY_SCORES,
    Recommender,
    slice_positions,
    sum_by_item,
)
from shoptrack.recommend.algorithms.data import FloatArray, IntArray, Sessions

PrefixWeighting = Literal["same", "div", "linear", "exp"]
Similarity = Literal["cosine", "dot"]


@dataclass(frozen=True)
class KNNParams:
    k: int = 100
    sample_size: int = 500
    prefix_weighting: PrefixWeighting = "same"
    prefix_decay: float = 1.0
    similarity: Similarity = "cosine"
    recency: float | None = None
    neighbour_decay: float | None = None
    before_weight: float = 1.0
    idf: float = 0.0


class SessionKNN(Recommender):
    """Session-based k nearest neighbours (see the module docstring for the weights)."""

    name: ClassVar[str] = "sknn"
    # Worked out from the other fields when first needed: never part of a stored model.
    TRANSIENT: ClassVar[frozenset[str]] = frozenset({"_ranks_cache"})

    def __init__(self, params: KNNParams | None = None, **overrides: object) -> None:
        super().__init__()
        base = params or KNNParams()
        self.params = KNNParams(**{**base.__dict__, **overrides})
        self._sessions: Sessions | None = None
        self._end: FloatArray = EMPTY_SCORES
        self._distinct_offsets: IntArray = EMPTY_ITEMS
        self._distinct_items: IntArray = EMPTY_ITEMS
        self._by_item_offsets: IntArray = EMPTY_ITEMS
        self._by_item_sessions: IntArray = EMPTY_ITEMS
        self._idf_factor: FloatArray = EMPTY_SCORES

    def _fit(self, sessions: Sessions) -> None:
        n_items, n_sessions = self.n_items, sessions.n_sessions
        self.__dict__.pop("_ranks_cache", None)  # a refit's ranks are new
        self._sessions = sessions
        self._end = sessions.end_times
        # Distinct (session, item) pairs, sorted by session then item.
        pairs = np.unique(sessions.session_of_click() * n_items + sessions.items)
        owner, item = pairs // n_items, pairs % n_items
        self._distinct_offsets = _offsets(owner, n_sessions)
        self._distinct_items = item
        # The sessions of each item, newest (latest end) first.
        order = np.lexsort((-owner, -self._end[owner], item))
        self._by_item_offsets = _offsets(item[order], n_items)
        self._by_item_sessions = owner[order]
        df = np.diff(self._by_item_offsets).astype(np.float64)
        idf = np.log(max(n_sessions, 1) / np.maximum(df, 1.0))
        # An item found in every session has idf 0; a floor keeps it rankable, just last.
        self._idf_factor = np.maximum(idf, 1e-3) ** self.params.idf

    def _prefix_weights(self, prefix: IntArray) -> tuple[IntArray, FloatArray, IntArray]:
        """Distinct prefix items, their weights and their last position (1-based)."""
        length = prefix.size
        reversed_items = prefix[::-1]
        items, first_in_reversed = np.unique(reversed_items, return_index=True)
        position = length - first_in_reversed  # the last occurrence, 1..length
        distance = (length - position).astype(np.float64)
        p = self.params
        if p.prefix_weighting == "div":
            weights = 1.0 / (distance + 1.0)
        elif p.prefix_weighting == "linear":
            weights = np.maximum(0.1, 1.0 - 0.1 * distance)
        elif p.prefix_weighting == "exp":
            weights = np.exp(-distance / p.prefix_decay)
        else:
            weights = np.ones(items.size)
        return items, weights, position.astype(np.int64)

    def neighbours(self, prefix: IntArray, now: float) -> tuple[IntArray, FloatArray]:
        """The ``k`` most similar training sessions to ``prefix`` and their similarities."""
        items, weights, _ = self._prefix_weights(prefix)
        return self._neighbours(items, weights, now)

    def _neighbours(
        self, items: IntArray, weights: FloatArray, now: float
    ) -> tuple[IntArray, FloatArray]:
        p = self.params
        positions, lengths = slice_positions(self._by_item_offsets, items, p.sample_size)
        if positions.size == 0:
            return EMPTY_ITEMS, EMPTY_SCORES
        by_item_ranks, session_of_rank = self._recency_ranks()
        ranks, overlap = most_recent_sums(
            by_item_ranks[positions], np.repeat(weights, lengths), lengths, p.sample_size
        )
        sessions = session_of_rank[ranks]
        if p.similarity == "cosine":
            sizes = np.diff(self._distinct_offsets)[sessions]
            similarity = overlap / np.sqrt(items.size * sizes)
        else:
            similarity = overlap
        if p.recency is not None:
            age = np.maximum(now - self._end[sessions], 0.0)
            similarity = similarity * np.exp(-age / p.recency)
        if sessions.size > p.k:
            # Equal similarity: the more recent neighbour wins (deterministic, answer-blind);
            # sessions are in rank order, so a stable sort keeps that order among ties.
            best = np.argsort(-similarity, kind="stable")[: p.k]
            sessions, similarity = sessions[best], similarity[best]
        return sessions, similarity

    def _recency_ranks(self) -> tuple[IntArray, IntArray]:
        """Each item's sessions as recency ranks (ascending, since the lists are newest
        first), and the session of each rank.

        Worked out from the stored fields on first use and not stored (``TRANSIENT``), so a
        model stored before them serves the same and snapshots do not grow.
        """
        cached = self.__dict__.get("_ranks_cache")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        n_sessions = self._end.size
        # The order of the per-item lists: the latest end first, then the later session.
        session_of_rank = np.lexsort((-np.arange(n_sessions), -self._end)).astype(np.int64)
        rank_of = np.empty(n_sessions, dtype=np.int64)
        rank_of[session_of_rank] = np.arange(n_sessions)
        found = (rank_of[self._by_item_sessions], session_of_rank)
        self.__dict__["_ranks_cache"] = found
        return found

    def _candidates(self, prefix: IntArray, now: float, want: int) -> tuple[IntArray, FloatArray]:
        if prefix.size == 0 or self._sessions is None:
            return EMPTY_ITEMS, EMPTY_SCORES
        items, weights, last_positions = self._prefix_weights(prefix)
        sessions, similarity = self._neighbours(items, weights, now)
        if sessions.size == 0:
            return EMPTY_ITEMS, EMPTY_SCORES
        if self.params.neighbour_decay is None:
            positions, lengths = slice_positions(self._distinct_offsets, sessions)
            held = self._distinct_items[positions]
            candidates, scores = sum_by_item(held, np.repeat(similarity, lengths))
        else:
            candidates, scores = self._positional_scores(
                items, last_positions, sessions, similarity
            )
        return candidates, scores * self._idf_factor[candidates]

    def _positional_scores(
        self,
        prefix_items: IntArray,
        prefix_pos: IntArray,
        sessions: IntArray,
        similarity: FloatArray,
    ) -> tuple[IntArray, FloatArray]:
        """Scores with STAN's λ3: each neighbour item weighted by its distance to the
        neighbour's copy of the most recent item it shares with the prefix (``prefix_items``,
        distinct and sorted, last seen at ``prefix_pos``)."""
        assert self._sessions is not None
        p = self.params
        positions, lengths = slice_positions(self._sessions.offsets, sessions)
        items = self._sessions.items[positions]
        owner = np.repeat(np.arange(sessions.size), lengths)
        starts = np.cumsum(lengths) - lengths
        pos = np.arange(positions.size) - np.repeat(starts, lengths)
        # How recent each neighbour click's item is in the prefix (0: not in the prefix).
        slot = np.minimum(np.searchsorted(prefix_items, items), prefix_items.size - 1)
        recency_in_prefix = np.where(prefix_items[slot] == items, prefix_pos[slot], 0)
        # Per neighbour, the click with the most recent shared item; among copies, the last.
        span = int(lengths.max()) + 1
        key = recency_in_prefix * span + pos
        reference = np.maximum.reduceat(key, starts) % span
        distance = pos - reference[owner]
        weight = np.exp(-np.abs(distance) / p.neighbour_decay)
        if p.before_weight != 1.0:
            weight = np.where(distance < 0, weight * p.before_weight, weight)
        weight = weight * similarity[owner]
        # An item repeated inside one neighbour counts once, at its best weight: one sort by
        # (item, neighbour) groups the copies, and the groups of an item are then adjacent.
        pair = items * sessions.size + owner
        order = np.argsort(pair)
        pair = pair[order]
        copies = _run_starts(pair)
        best = np.maximum.reduceat(weight[order], copies)
        item_of_group = pair[copies] // sessions.size
        groups = _run_starts(item_of_group)
        return item_of_group[groups], np.add.reduceat(best, groups)


# A counting pass over ranks up to the largest found costs about as much as sorting this many
# times the ids found; beyond it, the sort is cheaper.
_DENSE_SPAN_PER_ID = 16


def most_recent_sums(
    ranks: IntArray, weights: FloatArray, lengths: IntArray, sample: int
) -> tuple[IntArray, FloatArray]:
    """The ``sample`` smallest distinct ``ranks`` (ascending) with the sum of their ``weights``.

    ``ranks`` is the concatenation of ascending runs of distinct values, one per list, of
    ``lengths``; a run of ``sample`` values was cut there (or ended there) after ``sample``
    distinct ranks, so nothing beyond its last one can be among the ``sample`` smallest.
    """
    if sample > 0:
        ends = np.cumsum(lengths)[lengths >= sample] - 1
        if ends.size:
            keep = ranks <= ranks[ends].min()
            ranks, weights = ranks[keep], weights[keep]
    span = int(ranks.max()) + 1
    if span <= _DENSE_SPAN_PER_ID * ranks.size:
        found = np.flatnonzero(np.bincount(ranks, minlength=span))
        sums = np.bincount(ranks, weights, minlength=span)[found]
    else:
        found, inverse = np.unique(ranks, return_inverse=True)
        sums = np.bincount(inverse.ravel(), weights, found.size)
    if sample > 0:
        found, sums = found[:sample], sums[:sample]
    return found.astype(np.int64), sums.astype(np.float64)


def _run_starts(sorted_values: IntArray) -> IntArray:
    """Where each run of equal values begins in a sorted, non-empty array."""
    change = np.empty(sorted_values.size, dtype=bool)
    change[0] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=change[1:])
    return np.flatnonzero(change)


def _offsets(sorted_rows: IntArray, n_rows: int) -> IntArray:
    counts = np.bincount(sorted_rows, minlength=n_rows)
    offsets = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets
