"""Quality on the real yoochoose sample: the published protocol, and the bar of issue 6.

Skipped (with the reason) when ``../shared/data`` (or ``$SHOPTRACK_DATA_DIR``) is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shoptrack.recommend.algorithms.data import read_session_rec
from shoptrack.recommend.algorithms.popular import Popularity
from shoptrack.recommend.algorithms.registry import BEST, make
from shoptrack.recommend.research.evaluation import Split, evaluate, prediction_count, prepare

# The strongest published simple baselines on train_tr → train_valid (session-rec):
# STAN's best-HR configuration and VSTAN's best-MRR configuration.
BAR_HR, BAR_MRR = 0.6501, 0.3673


@pytest.fixture(scope="module")
def split(request: pytest.FixtureRequest) -> Split:
    folder: Path = request.getfixturevalue("yoochoose_dir")
    return prepare(
        read_session_rec(folder / "yoochoose-clicks-100k_train_tr.txt"),
        read_session_rec(folder / "yoochoose-clicks-100k_train_valid.txt"),
    )


@pytest.fixture(scope="module")
def yoochoose_dir() -> Path:
    from tests.recommend.conftest import data_dir

    folder = data_dir() / "yoochoose-rsc15-sample"
    if not (folder / "yoochoose-clicks-100k_train_tr.txt").exists():
        pytest.skip(f"real data absent: {folder} (set SHOPTRACK_DATA_DIR)")
    return folder


def test_the_protocol_makes_the_published_12455_predictions(split: Split) -> None:
    assert prediction_count(split.test) == 12_455


def test_popularity_reproduces_the_published_figure(split: Split) -> None:
    result = evaluate(Popularity(), split)
    assert result.predictions == 12_455
    assert round(result.hit_rate, 4) == 0.0899
    # Published 0.0177; we get 0.01757. The whole difference is one tie: two items with 375
    # training clicks each at ranks 9 and 10. Our rule puts the lower product id first; the
    # other one is the answer 165 times, and ranking it first gives 0.01772.
    assert result.mrr == pytest.approx(0.0177, abs=2e-4)


def test_the_best_algorithm_beats_the_published_bar(split: Split) -> None:
    result = evaluate(make(BEST), split)
    assert result.hit_rate > BAR_HR, result.as_dict()
    assert result.mrr > BAR_MRR, result.as_dict()
    assert result.train_cpu_seconds < 30.0
