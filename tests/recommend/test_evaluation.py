"""The next-item protocol on a hand-made split whose HR and MRR are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from shoptrack.recommend.algorithms.data import Clicks
from shoptrack.recommend.algorithms.popular import Popularity, SessionPopularity
from shoptrack.recommend.research.evaluation import evaluate, prediction_count, prepare, rank_of

# Training popularity: 10 → 3 clicks, 11 → 2, 12 → 1.
TRAIN = Clicks(
    session_keys=np.array([1, 1, 2, 2, 3, 3]),
    item_keys=np.array([10, 11, 10, 12, 10, 11]),
    times=np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
)
# Session 7: [11, 10, 99, 12] → 99 was never trained on, removed → [11, 10, 12]: 2 predictions.
# Session 8: [99, 12] → [12], shorter than 2 after the removal: dropped.
# Session 9: [12, 12] → 1 prediction, a repeat.
TEST = Clicks(
    session_keys=np.array([7, 7, 7, 7, 8, 8, 9, 9]),
    item_keys=np.array([11, 10, 99, 12, 99, 12, 12, 12]),
    times=np.array([10.0, 11.0, 12.0, 13.0, 10.0, 11.0, 20.0, 21.0]),
)


def test_unknown_items_are_removed_before_short_sessions_are_dropped() -> None:
    split = prepare(TRAIN, TEST)
    assert split.test.keys.tolist() == [7, 9]
    assert split.index.key_of(split.test.items).tolist() == [11, 10, 12, 12, 12]
    assert prediction_count(split.test) == 3


def test_popularity_hr_and_mrr_by_hand() -> None:
    # Popular ranking [10, 11, 12]. Answers: 10 (rank 1), 12 (rank 3), 12 (rank 3).
    split = prepare(TRAIN, TEST)
    at2 = evaluate(Popularity(), split, k=2)
    assert (at2.predictions, at2.hits) == (3, 1)
    assert at2.hit_rate == pytest.approx(1 / 3) and at2.mrr == pytest.approx(1 / 3)
    at3 = evaluate(Popularity(), split, k=3)
    assert at3.hit_rate == pytest.approx(1.0)
    assert at3.mrr == pytest.approx((1 + 1 / 3 + 1 / 3) / 3)
    assert at3.as_dict()["hr@3"] == 1.0 and "mrr@3" in at3.as_dict()


def test_session_popularity_by_hand_repeats_count() -> None:
    # [11] → [11, 10, 12]: 10 at rank 2. [11, 10] → [10, 11, 12] (10 is the later click):
    # 12 at rank 3. [12] → [12, 10, 11]: the repeat 12 at rank 1.
    result = evaluate(SessionPopularity(), prepare(TRAIN, TEST), k=3)
    assert result.hit_rate == pytest.approx(1.0)
    assert result.mrr == pytest.approx((1 / 2 + 1 / 3 + 1) / 3)


def test_dump_receives_every_prediction_with_file_keys() -> None:
    split = prepare(TRAIN, TEST)
    seen: list[tuple[int, int, int, list[int]]] = []
    evaluate(
        Popularity(),
        split,
        k=2,
        dump=lambda s, step, answer, ranked: seen.append(
            (int(s), step, int(split.index.keys[answer]), split.index.keys[ranked].tolist())
        ),
    )
    assert seen == [(7, 1, 10, [10, 11]), (7, 2, 12, [10, 11]), (9, 1, 12, [10, 11])]


def test_rank_of() -> None:
    ranked = np.array([5, 3, 9])
    assert (rank_of(ranked, 5), rank_of(ranked, 9), rank_of(ranked, 4)) == (1, 3, 0)


def test_latency_and_training_time_are_measured() -> None:
    result = evaluate(Popularity(), prepare(TRAIN, TEST), k=2)
    assert len(result.latencies_ns) == 3
    report = result.as_dict()
    assert report["latency_p99_ms"] >= report["latency_p50_ms"] >= 0
    assert report["train_cpu_seconds"] >= 0
