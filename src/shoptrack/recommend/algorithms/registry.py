"""Algorithms by name, with the hyper-parameters chosen on validation data.

``TUNED`` holds, per algorithm, the parameters that ``python bench/recommend_quality.py
--tune`` selected by coordinate descent on validation days carved from the *end* of the
yoochoose ``train_tr`` file (never on ``train_valid``, which is only reported). See
:mod:`shoptrack.recommend.research.tuning` for the search spaces and the objective.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shoptrack.recommend.algorithms.base import Recommender

DAY = 86400.0

Params = Mapping[str, Any]

# Validation HR@20 / MRR@20 (mean of the two validation days) in the comments.
TUNED: dict[str, dict[str, Any]] = {
    "popular": {},  # 0.1113 / 0.0276 (nothing to tune)
    "popular-decay": {"half_life": DAY / 4},  # 0.1147 / 0.0268
    "session-popular": {},  # 0.4188 / 0.2884 (nothing to tune)
    "ar": {},  # 0.5937 / 0.2973 (nothing to tune)
    "sr": {"steps": 20, "weighting": "div", "context": 3},  # 0.6107 / 0.3233
    "sknn": {"k": 200, "sample_size": 500, "similarity": "cosine"},  # 0.6510 / 0.3333
    "vsknn": {  # 0.6756 / 0.3644
        "k": 200,
        "sample_size": 2500,
        "prefix_weighting": "div",
        "similarity": "cosine",
        "idf": 1.0,
    },
    "stan": {  # 0.6707 / 0.3716
        "k": 500,
        "sample_size": 1000,
        "prefix_decay": 0.5,
        "recency": None,
        "neighbour_decay": 2.0,
    },
    "vstan": {  # 0.6784 / 0.3719
        "k": 200,
        "sample_size": 2500,
        "prefix_weighting": "exp",
        "prefix_decay": 1.0,
        "similarity": "dot",
        "recency": None,
        "neighbour_decay": 4.0,
        "before_weight": 1.0,
        "idf": 1.0,
    },
    "vstan-blend": {  # 0.6829 / 0.3758
        "k": 100,
        "sample_size": 1000,
        "prefix_weighting": "exp",
        "prefix_decay": 0.5,
        "similarity": "dot",
        "recency": None,
        "neighbour_decay": 4.0,
        "before_weight": 1.0,
        "idf": 0.25,
        "remind": 0.2,
        "rules": 0.05,
    },
}

ALGORITHMS: tuple[str, ...] = tuple(TUNED)
# The algorithm `shoptrack evaluate sessions` runs when none is named: the best on validation.
BEST = "vstan-blend"

_BLEND_KEYS = ("remind", "rules")


def build(name: str, params: Params) -> Recommender:
    """A fresh, unfitted ``name`` algorithm with ``params`` (unknown keys are an error)."""
    # Imported here so that the CLI can list names without loading numpy and scipy.
    from shoptrack.recommend.algorithms.hybrid import Blend
    from shoptrack.recommend.algorithms.knn import KNNParams, SessionKNN
    from shoptrack.recommend.algorithms.popular import Popularity, SessionPopularity
    from shoptrack.recommend.algorithms.rules import CoOccurrence, SequentialRules

    p = dict(params)
    if name == "popular":
        return Popularity(**p)
    if name == "popular-decay":
        return Popularity(half_life=float(p.pop("half_life", DAY)), **p)
    if name == "session-popular":
        return SessionPopularity(**p)
    if name == "ar":
        # Repeats on: in the next-click task the next click is often the same product again.
        return CoOccurrence(context="last", repeats=True, **p)
    if name == "sr":
        return SequentialRules(**p)
    if name == "sknn":
        return SessionKNN(KNNParams(**p))
    if name == "vsknn":
        return SessionKNN(KNNParams(**p))
    if name == "stan":
        return SessionKNN(KNNParams(prefix_weighting="exp", **p))
    if name == "vstan":
        return SessionKNN(KNNParams(**p))
    if name == "vstan-blend":
        weights = {key: float(p.pop(key, 0.0)) for key in _BLEND_KEYS}
        parts: list[Recommender] = [SessionKNN(KNNParams(**p))]
        shares = [1.0]
        if weights["remind"] > 0:
            parts.append(SessionPopularity())
            shares.append(weights["remind"])
        if weights["rules"] > 0:
            parts.append(SequentialRules())
            shares.append(weights["rules"])
        return Blend(parts, shares)
    raise ValueError(f"unknown algorithm {name!r}; one of {', '.join(ALGORITHMS)}")


def make(name: str) -> Recommender:
    """``name`` with its tuned parameters."""
    if name not in TUNED:
        raise ValueError(f"unknown algorithm {name!r}; one of {', '.join(ALGORITHMS)}")
    return build(name, TUNED[name])
