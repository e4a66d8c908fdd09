"""The next-item evaluation protocol (as in the session-rec framework).

Given training clicks and later test clicks:

1. the item index comes from the training clicks only;
2. test clicks on items absent from training are removed, then test sessions shorter than 2
   clicks are dropped;
3. for every click after the first of each test session, the full prefix before it is the
   input and the click is the answer (repeated items count: the answer may be in the prefix);
   every training item is a candidate, nothing is excluded, and ``now`` is the time of the
   prefix's last click;
4. HR@k is the share of predictions whose answer is in the top ``k``; MRR@k the mean of
   ``1 / rank`` over them (0 when the answer is not in the top ``k``).

Predictions go through :meth:`Recommender.recommend`, the call the serving path makes, so
the figures measure the production code, ranking rule and fallback included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shoptrack.recommend.algorithms.base import Recommender
from shoptrack.recommend.algorithms.data import Clicks, IntArray, ItemIndex, Sessions


@dataclass(frozen=True)
class Split:
    """Training and test sessions over one item index (built from the training clicks)."""

    index: ItemIndex
    train: Sessions
    test: Sessions


def prepare(train_clicks: Clicks, test_clicks: Clicks) -> Split:
    index = ItemIndex.from_keys(train_clicks.item_keys)
    train = Sessions.from_clicks(train_clicks, index)
    test = Sessions.from_clicks(test_clicks, index, min_length=2)
    return Split(index, train, test)


def prediction_count(test: Sessions) -> int:
    """How many predictions the protocol makes: every click after a session's first."""
    return int(test.items.size - test.n_sessions)


@dataclass
class Result:
    algorithm: str
    k: int
    predictions: int = 0
    hits: int = 0
    reciprocal_rank_sum: float = 0.0
    train_seconds: float = 0.0
    train_cpu_seconds: float = 0.0
    latencies_ns: list[int] = field(default_factory=list)

    @property
    def hit_rate(self) -> float:
        return self.hits / self.predictions if self.predictions else 0.0

    @property
    def mrr(self) -> float:
        return self.reciprocal_rank_sum / self.predictions if self.predictions else 0.0

    def latency_ms(self, quantile: float) -> float:
        if not self.latencies_ns:
            return 0.0
        return float(np.quantile(np.asarray(self.latencies_ns), quantile)) / 1e6

    def as_dict(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            f"hr@{self.k}": round(self.hit_rate, 4),
            f"mrr@{self.k}": round(self.mrr, 4),
            "predictions": self.predictions,
            "train_seconds": round(self.train_seconds, 3),
            "train_cpu_seconds": round(self.train_cpu_seconds, 3),
            "latency_p50_ms": round(self.latency_ms(0.5), 3),
            "latency_p99_ms": round(self.latency_ms(0.99), 3),
        }


# (session key, step, next item index, ranked item indices) for one prediction.
DumpFn = Callable[[Any, int, int, IntArray], None]


def rank_of(ranked: IntArray, answer: int) -> int:
    """1-based rank of ``answer`` in ``ranked``; 0 when it is not there."""
    found = np.flatnonzero(ranked == answer)
    return int(found[0]) + 1 if found.size else 0


def fit_timed(model: Recommender, train: Sessions, result: Result) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(train)
    result.train_seconds = time.perf_counter() - wall
    # CPU time too: the machine is shared, and the bar is "under 30 s on one core".
    result.train_cpu_seconds = time.process_time() - cpu


def evaluate(
    model: Recommender,
    split: Split,
    k: int = 20,
    *,
    name: str | None = None,
    fit: bool = True,
    dump: DumpFn | None = None,
    progress: Callable[[int], None] | None = None,
) -> Result:
    """Fit ``model`` on ``split.train`` (unless ``fit`` is false) and run the protocol."""
    result = Result(algorithm=name or model.name, k=k)
    if fit:
        fit_timed(model, split.train, result)
    test = split.test
    clock = time.perf_counter_ns
    for s in range(test.n_sessions):
        items, times = test.session(s)
        for t in range(1, items.size):
            started = clock()
            ranked, _ = model.recommend(items[:t], k, now=float(times[t - 1]))
            result.latencies_ns.append(clock() - started)
            answer = int(items[t])
            rank = rank_of(ranked, answer)
            result.predictions += 1
            if rank:
                result.hits += 1
                result.reciprocal_rank_sum += 1.0 / rank
            if dump is not None:
                dump(test.keys[s], t, answer, ranked)
        if progress is not None:
            progress(1)
    return result
