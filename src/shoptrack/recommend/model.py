"""A site's trained recommendation model, and the popularity counters folded in after it.

The training job (:mod:`.training`) builds one :class:`SiteModel` per site from the event log
and writes it to ``rec_snapshots`` as one serialized blob; serving processes load the newest
snapshot into memory. Between full retrains the worker folds new events into
:class:`Counters` (``rec_counters``, one row per site): view, cart and purchase counts and two
time-decayed activity accumulators, all of which can be updated from new events alone.

Both are stored by :mod:`.snapshot_codec`: arrays plus a JSON manifest of stable type
names, so a stored model neither depends on module paths nor runs code when read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shoptrack.recommend.algorithms.base import Recommender
from shoptrack.recommend.algorithms.data import FloatArray, IntArray, KeyArray

DAY = 86400.0
SHORT_HALF_LIFE = 1 * DAY  # "trending": activity of the last day or so
LONG_HALF_LIFE = 7 * DAY  # "popular (time-decayed)": the last weeks
# How much one event counts in the decayed activity: buying says more than looking.
EVENT_WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


@dataclass
class Counters:
    """Per item: plain counts and decayed activity as of ``as_of`` (unix seconds)."""

    views: FloatArray
    carts: FloatArray
    purchases: FloatArray
    short: FloatArray
    long: FloatArray
    as_of: float
    upto_seq: int

    @classmethod
    def empty(cls, n: int, as_of: float = 0.0, upto_seq: int = 0) -> Counters:
        z = np.zeros(n)
        return cls(z, z.copy(), z.copy(), z.copy(), z.copy(), as_of, upto_seq)

    def fold(
        self, kind: str, items: IntArray, times: FloatArray, weights: FloatArray | None = None
    ) -> None:
        """Add events of one kind (item indices, unix-second times) to every counter."""
        n = self.views.size
        keep = (items >= 0) & (items < n)
        items, times = items[keep], times[keep]
        if items.size == 0:
            return
        amount = np.ones(items.size) if weights is None else weights[keep]
        target = {"view": self.views, "cart": self.carts, "purchase": self.purchases}[kind]
        target += np.bincount(items, weights=amount, minlength=n)
        newest = max(self.as_of, float(times.max()))
        self._age_to(newest)
        weight = EVENT_WEIGHTS[kind] * amount
        for acc, half_life in ((self.short, SHORT_HALF_LIFE), (self.long, LONG_HALF_LIFE)):
            decay = np.exp2(-(newest - times) / half_life) * weight
            acc += np.bincount(items, weights=decay, minlength=n)

    def _age_to(self, when: float) -> None:
        if when > self.as_of and self.as_of > 0:
            self.short *= np.exp2(-(when - self.as_of) / SHORT_HALF_LIFE)
            self.long *= np.exp2(-(when - self.as_of) / LONG_HALF_LIFE)
        self.as_of = max(self.as_of, when)

    def trending(self) -> FloatArray:
        """Recent activity times its growth over the long-run level (0 when not growing).

        For a steady event rate the short accumulator is ``SHORT/LONG`` of the long one, so the
        ratio below is 1 for a steady item and above 1 for one that is picking up.
        """
        steady = SHORT_HALF_LIFE / LONG_HALF_LIFE
        growth = self.short / np.maximum(self.long * steady, 1e-9)
        return self.short * np.clip(growth - 1.0, 0.0, None)


@dataclass
class SiteModel:
    """Everything serving needs from training, over one item index (``keys``, sorted)."""

    keys: KeyArray
    counters: Counters
    # Fitted session algorithms by name: "vstan-blend" (personal, next item) always, the
    # registry algorithms that a variant names, and the two rule models.
    session_models: dict[str, Recommender] = field(default_factory=dict)
    also_viewed: Recommender | None = None
    bought_together: Recommender | None = None
    events: int = 0
    sessions: int = 0
    baskets: int = 0

    @property
    def n_items(self) -> int:
        return int(self.keys.shape[0])

    def index_of(self) -> dict[str, int]:
        return {str(k): i for i, k in enumerate(self.keys.tolist())}


def empty_model() -> SiteModel:
    return SiteModel(keys=np.zeros(0, dtype=str), counters=Counters.empty(0))
