"""Hyper-parameter search on validation data carved from the end of the training file.

Honest tuning: the test file is never read. From the training clicks we carve ``folds``
validation days, newest first: fold 1 holds out the last day and trains on everything
before it; fold 2 drops that day, holds out the day before, and trains on the rest; and so
on. A configuration's objective is the mean over folds of ``HR@k + MRR@k`` (the bar asks for
both, so neither may be bought with the other). The search is coordinate descent: each
parameter in turn takes each of its listed values with the others fixed, the best is kept,
and passes repeat until nothing improves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shoptrack.recommend.algorithms.data import Clicks, split_last
from shoptrack.recommend.algorithms.registry import DAY, TUNED, build
from shoptrack.recommend.research.evaluation import Split, evaluate, prepare

_KNN_CORE: dict[str, list[Any]] = {
    "k": [50, 100, 200, 500, 1000],
    "sample_size": [250, 500, 1000, 2500, 5000],
}
_STAN: dict[str, list[Any]] = {
    "prefix_decay": [0.5, 1.0, 2.0, 4.0, 8.0],
    "recency": [None, DAY / 2, DAY, 2 * DAY, 4 * DAY, 8 * DAY],
    "neighbour_decay": [None, 0.5, 1.0, 2.0, 4.0, 8.0],
}
_VSTAN: dict[str, list[Any]] = {
    **_KNN_CORE,
    "prefix_weighting": ["same", "div", "linear", "exp"],
    "similarity": ["cosine", "dot"],
    **_STAN,
    "before_weight": [1.0, 0.5, 0.25, 0.0],
    "idf": [0.0, 0.25, 0.5, 1.0, 2.0],
}

SPACES: dict[str, dict[str, list[Any]]] = {
    "popular-decay": {"half_life": [DAY / 4, DAY / 2, DAY, 2 * DAY, 4 * DAY, 8 * DAY]},
    "sr": {
        "steps": [1, 2, 5, 10, 20],
        "weighting": ["same", "div", "linear"],
        "context": [1, 2, 3],
    },
    "sknn": {**_KNN_CORE, "similarity": ["cosine", "dot"]},
    "vsknn": {
        **_KNN_CORE,
        "prefix_weighting": ["same", "div", "linear"],
        "similarity": ["cosine", "dot"],
        "idf": [0.0, 0.5, 1.0, 2.0],
    },
    "stan": {**_KNN_CORE, **_STAN},
    "vstan": _VSTAN,
    "vstan-blend": {**_VSTAN, "remind": [0.0, 0.05, 0.1, 0.2, 0.4], "rules": [0.0, 0.05, 0.1, 0.2]},
}


# Where each search starts: the textbook settings (SKNN/V-SKNN as in Ludewig & Jannach, STAN
# as in Garg et al. for click data); "vstan-blend" starts from the best "vstan" found.
START: dict[str, dict[str, Any]] = {
    "popular-decay": {"half_life": DAY},
    "sr": {"steps": 10, "weighting": "div", "context": 1},
    "sknn": {"k": 100, "sample_size": 500, "similarity": "cosine"},
    "vsknn": {
        "k": 100,
        "sample_size": 500,
        "prefix_weighting": "div",
        "similarity": "dot",
        "idf": 1.0,
    },
    "stan": {
        "k": 100,
        "sample_size": 500,
        "prefix_decay": 1.0,
        "recency": DAY,
        "neighbour_decay": 1.0,
    },
    "vstan": {
        "k": 100,
        "sample_size": 500,
        "prefix_weighting": "exp",
        "prefix_decay": 1.0,
        "similarity": "cosine",
        "recency": DAY,
        "neighbour_decay": 1.0,
        "before_weight": 1.0,
        "idf": 0.0,
    },
}


def validation_folds(train: Clicks, folds: int = 2, seconds: float = DAY) -> list[Split]:
    """``folds`` (fit, validate) splits from the end of ``train``, newest first."""
    splits: list[Split] = []
    rest = train
    for _ in range(folds):
        fit_part, held_out = split_last(rest, seconds=seconds)
        splits.append(prepare(fit_part, held_out))
        rest = fit_part
    return splits


@dataclass
class Trial:
    params: dict[str, Any]
    hit_rate: float
    mrr: float

    @property
    def objective(self) -> float:
        return self.hit_rate + self.mrr


def score(name: str, params: dict[str, Any], folds: list[Split], k: int = 20) -> Trial:
    results = [evaluate(build(name, params), fold, k) for fold in folds]
    return Trial(
        dict(params),
        sum(r.hit_rate for r in results) / len(results),
        sum(r.mrr for r in results) / len(results),
    )


def coordinate_descent(
    name: str,
    folds: list[Split],
    start: dict[str, Any] | None = None,
    max_passes: int = 3,
    log: Callable[[str], None] | None = None,
) -> Trial:
    """The best configuration of ``name`` found from ``start`` (default: its current)."""
    space = SPACES.get(name, {})
    cache: dict[str, Trial] = {}

    def trial(params: dict[str, Any]) -> Trial:
        key = json.dumps(params, sort_keys=True)
        if key not in cache:
            cache[key] = score(name, params, folds)
        return cache[key]

    best = trial(dict(start if start is not None else START.get(name, TUNED[name])))
    for _ in range(max_passes):
        improved = False
        for param, values in space.items():
            for value in values:
                candidate = trial({**best.params, param: value})
                if candidate.objective > best.objective + 1e-9:
                    best, improved = candidate, True
                    if log is not None:
                        log(f"{name}: {param}={value} → HR {best.hit_rate:.4f} MRR {best.mrr:.4f}")
        if not improved:
            break
    return best
