"""The neighbour search against a plain reading of its definition, on random sessions.

The fast search merges recency ranks (counting or sorting); these tests check that it finds
exactly the neighbours the definition names: the ``sample_size`` most recent sessions sharing
an item with the prefix, then the ``k`` most similar, ties to the more recent.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from shoptrack.recommend.algorithms.data import Sessions
from shoptrack.recommend.algorithms.knn import KNNParams, SessionKNN, most_recent_sums


def random_sessions(seed: int, n_sessions: int, n_items: int) -> Sessions:
    """Sessions whose end times collide often, so the tie rule is exercised."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 8, n_sessions)
    offsets = np.zeros(n_sessions + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    items = rng.integers(0, n_items, int(offsets[-1])).astype(np.int64)
    starts = np.sort(rng.integers(0, 40, n_sessions)).astype(np.float64) * 60.0
    times = np.concatenate([starts[s] + np.arange(n) for s, n in enumerate(lengths)])
    return Sessions(
        offsets=offsets,
        items=items,
        times=times,
        keys=np.arange(n_sessions, dtype=np.int64),
        n_items=n_items,
    )


def reference_neighbours(
    sessions: Sessions, params: KNNParams, prefix: list[int], now: float
) -> dict[int, float]:
    """Neighbours and similarities as the module docstring defines them, one loop at a time."""
    ends = sessions.end_times
    contents = [set(sessions.session(s)[0].tolist()) for s in range(sessions.n_sessions)]

    def newest_first(candidates: list[int]) -> list[int]:
        return sorted(candidates, key=lambda s: (-ends[s], -s))

    weights: dict[int, float] = {}
    for distance, item in enumerate(reversed(prefix)):
        if item not in weights:
            weights[item] = 1.0 if params.prefix_weighting == "same" else 1.0 / (distance + 1)
    overlap: dict[int, float] = {}
    for item, weight in weights.items():
        holders = newest_first([s for s, held in enumerate(contents) if item in held])
        for s in holders[: params.sample_size]:
            overlap[s] = overlap.get(s, 0.0) + weight
    similarity: dict[int, float] = {}
    for s in newest_first(list(overlap))[: params.sample_size]:
        value = overlap[s]
        if params.similarity == "cosine":
            value /= math.sqrt(len(weights) * len(contents[s]))
        if params.recency is not None:
            value *= math.exp(-max(now - ends[s], 0.0) / params.recency)
        similarity[s] = value
    best = sorted(similarity, key=lambda s: (-similarity[s], -ends[s], -s))[: params.k]
    return {s: similarity[s] for s in best}


@pytest.mark.parametrize(
    "params",
    [
        KNNParams(k=5, sample_size=4),
        KNNParams(k=50, sample_size=10, prefix_weighting="div", similarity="dot"),
        KNNParams(k=3, sample_size=200, recency=600.0),
        KNNParams(k=500, sample_size=1),
    ],
)
def test_the_search_finds_the_neighbours_the_definition_names(params: KNNParams) -> None:
    sessions = random_sessions(seed=7, n_sessions=300, n_items=40)
    model = SessionKNN(params).fit(sessions)
    rng = np.random.default_rng(11)
    for _ in range(60):
        prefix = rng.integers(0, 40, int(rng.integers(1, 12))).tolist()
        now = model.last_time + float(rng.integers(0, 3600))
        found, similarity = model.neighbours(np.array(prefix, dtype=np.int64), now)
        expected = reference_neighbours(sessions, params, prefix, now)
        assert dict(zip(found.tolist(), similarity.tolist(), strict=True)) == pytest.approx(
            expected, rel=1e-12
        )


def test_ties_in_similarity_go_to_the_more_recent_session() -> None:
    sessions = random_sessions(seed=3, n_sessions=120, n_items=5)
    model = SessionKNN(KNNParams(k=4, sample_size=1000, similarity="dot")).fit(sessions)
    found, similarity = model.neighbours(np.array([2], dtype=np.int64), model.last_time)
    expected = reference_neighbours(sessions, model.params, [2], model.last_time)
    assert found.tolist() == list(expected)  # all tie at 1.0: the four most recent holders
    assert similarity.tolist() == [1.0] * 4


def test_merging_ranks_counts_each_once_and_keeps_the_smallest() -> None:
    # Three ascending runs; the first two were cut at the sample (3), so nothing past the
    # smaller of their last ranks (6) can be among the 3 smallest.
    ranks = np.array([0, 4, 9, 1, 4, 6, 4, 5], dtype=np.int64)
    weights = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0])
    found, sums = most_recent_sums(ranks, weights, np.array([3, 3, 2]), sample=3)
    assert found.tolist() == [0, 1, 4]
    assert sums.tolist() == [1.0, 8.0, 2.0 + 16.0 + 64.0]


def test_sparse_ranks_are_merged_by_sorting_and_an_uncut_run_keeps_every_rank() -> None:
    ranks = np.array([3, 50_000, 3, 7], dtype=np.int64)
    found, sums = most_recent_sums(ranks, np.ones(4), np.array([2, 2]), sample=10)
    assert found.tolist() == [3, 7, 50_000]
    assert sums.tolist() == [2.0, 1.0, 1.0]


def test_a_refit_model_searches_its_new_sessions() -> None:
    params = KNNParams(k=10, sample_size=5)
    model = SessionKNN(params).fit(random_sessions(seed=1, n_sessions=50, n_items=10))
    model.neighbours(np.array([3], dtype=np.int64), model.last_time)  # ranks worked out
    sessions = random_sessions(seed=2, n_sessions=80, n_items=10)
    model.fit(sessions)
    found, similarity = model.neighbours(np.array([3], dtype=np.int64), model.last_time)
    expected = reference_neighbours(sessions, params, [3], model.last_time)
    assert dict(zip(found.tolist(), similarity.tolist(), strict=True)) == pytest.approx(expected)
