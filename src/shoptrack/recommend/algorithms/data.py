"""Items and sessions as integer-indexed arrays, and loaders for the evaluation formats.

Every algorithm works on item *indices* ``0..n_items-1``; :class:`ItemIndex` maps them to and
from product keys. A :class:`Sessions` holds many sessions in CSR form: session ``s`` is
``items[offsets[s]:offsets[s + 1]]`` (clicks in time order, repeats kept) with its click
times in the same slice of ``times``. Sessions are ordered by their start time, so "the most
recent sessions" is a suffix and "sessions containing item i" lists can be kept time-ordered.

Raw files are read into :class:`Clicks` (keys as in the file) first, because the item index
must come from the *training* part only: an item that only a test session has is unknown.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
KeyArray = npt.NDArray[Any]

Format = Literal["session-rec", "diginetica", "retailrocket"]
FORMATS: tuple[Format, ...] = ("session-rec", "diginetica", "retailrocket")

# RetailRocket has visitors, not sessions: a pause longer than this starts a new session
# (the usual web-analytics rule, also used by the session-rec preprocessing of that data).
SESSION_GAP_SECONDS = 30 * 60


@dataclass(frozen=True)
class Clicks:
    """Interactions as read: one row per click, keys exactly as the source spells them."""

    session_keys: KeyArray
    item_keys: KeyArray
    times: FloatArray

    def __len__(self) -> int:
        return int(self.times.shape[0])

    def take(self, mask: npt.NDArray[np.bool_]) -> Clicks:
        return Clicks(self.session_keys[mask], self.item_keys[mask], self.times[mask])


@dataclass(frozen=True)
class ItemIndex:
    """Item index ↔ product key. ``keys`` is sorted, so lookups are a binary search."""

    keys: KeyArray

    @classmethod
    def from_keys(cls, keys: KeyArray) -> ItemIndex:
        return cls(np.unique(keys))

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def lookup(self, keys: KeyArray | list[Any]) -> IntArray:
        """Indices of ``keys``; -1 for a key this index does not know."""
        wanted = np.asarray(keys)
        if len(self) == 0 or wanted.size == 0:
            return np.full(wanted.shape, -1, dtype=np.int64)
        try:
            wanted = wanted.astype(self.keys.dtype)
        except (TypeError, ValueError):
            return np.full(wanted.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self.keys, wanted).astype(np.int64)
        pos_clipped = np.minimum(pos, len(self) - 1)
        found = (pos < len(self)) & (self.keys[pos_clipped] == wanted)
        return np.where(found, pos_clipped, -1)

    def key_of(self, indices: IntArray | list[int]) -> KeyArray:
        return self.keys[np.asarray(indices, dtype=np.int64)]


@dataclass(frozen=True)
class Sessions:
    """Sessions in CSR form over item indices, ordered by start time."""

    offsets: IntArray
    items: IntArray
    times: FloatArray
    keys: KeyArray
    n_items: int

    @property
    def n_sessions(self) -> int:
        return int(self.offsets.shape[0] - 1)

    @property
    def lengths(self) -> IntArray:
        return np.diff(self.offsets)

    @property
    def end_times(self) -> FloatArray:
        # Every stored session has at least one click, so reduceat sees no empty slice.
        if self.n_sessions == 0:
            return np.zeros(0)
        return np.maximum.reduceat(self.times, self.offsets[:-1])

    def session(self, s: int) -> tuple[IntArray, FloatArray]:
        lo, hi = int(self.offsets[s]), int(self.offsets[s + 1])
        return self.items[lo:hi], self.times[lo:hi]

    def session_of_click(self) -> IntArray:
        """The session number of every click (the CSR row ids)."""
        return np.repeat(np.arange(self.n_sessions, dtype=np.int64), self.lengths)

    @classmethod
    def from_clicks(cls, clicks: Clicks, index: ItemIndex, min_length: int = 1) -> Sessions:
        """Group ``clicks`` into sessions over ``index``.

        Clicks on items the index does not know are removed first, then sessions shorter than
        ``min_length`` are dropped (the order of the session-rec evaluation).
        """
        items = index.lookup(clicks.item_keys)
        known = items >= 0
        items, times, skeys = items[known], clicks.times[known], clicks.session_keys[known]
        if items.size == 0:
            return empty_sessions(len(index))
        uniq, codes = np.unique(skeys, return_inverse=True)
        codes = codes.astype(np.int64).ravel()
        lengths = np.bincount(codes, minlength=uniq.shape[0])
        keep_session = lengths >= min_length
        keep = keep_session[codes]
        items, times, codes = items[keep], times[keep], codes[keep]
        if items.size == 0:
            return empty_sessions(len(index))
        starts = np.full(uniq.shape[0], np.inf)
        np.minimum.at(starts, codes, times)
        # Session order: by start time, then key; the clicks of a session by time, and clicks
        # with equal times keep their file order (lexsort is stable).
        session_rank = np.empty(uniq.shape[0], dtype=np.int64)
        session_rank[np.lexsort((np.arange(uniq.shape[0]), starts))] = np.arange(uniq.shape[0])
        order = np.lexsort((times, session_rank[codes]))
        ranks = session_rank[codes[order]]
        kept_ranks, counts = np.unique(ranks, return_counts=True)
        offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        by_rank = np.empty(uniq.shape[0], dtype=np.int64)
        by_rank[session_rank] = np.arange(uniq.shape[0])
        return cls(
            offsets=offsets,
            items=items[order].astype(np.int64),
            times=times[order].astype(np.float64),
            keys=uniq[by_rank[kept_ranks]],
            n_items=len(index),
        )


def empty_sessions(n_items: int) -> Sessions:
    return Sessions(
        offsets=np.zeros(1, dtype=np.int64),
        items=np.zeros(0, dtype=np.int64),
        times=np.zeros(0),
        keys=np.zeros(0, dtype=np.int64),
        n_items=n_items,
    )


def session_end_times(clicks: Clicks) -> tuple[KeyArray, FloatArray, IntArray]:
    """(session keys, each session's last click time, each click's session number)."""
    uniq, codes = np.unique(clicks.session_keys, return_inverse=True)
    codes = codes.astype(np.int64).ravel()
    ends = np.full(uniq.shape[0], -np.inf)
    np.maximum.at(ends, codes, clicks.times)
    return uniq, ends, codes


def split_last(
    clicks: Clicks, *, seconds: float | None = None, fraction: float | None = None
) -> tuple[Clicks, Clicks]:
    """Split by time: sessions that end in the last ``seconds`` (or the last ``fraction`` of
    sessions by end time) are the test part, all earlier-ending sessions the training part.

    A session is never cut in two, so no test click is ever seen in training.
    """
    if (seconds is None) == (fraction is None):
        raise ValueError("give exactly one of seconds or fraction")
    _, ends, codes = session_end_times(clicks)
    if seconds is not None:
        cut = float(ends.max()) - seconds
    else:
        assert fraction is not None
        n_test = max(1, round(fraction * ends.shape[0]))
        cut = float(np.sort(ends)[-n_test - 1]) if n_test < ends.shape[0] else -np.inf
    test = ends[codes] > cut
    return clicks.take(~test), clicks.take(test)


def read_session_rec(path: Path) -> Clicks:
    """session-rec TSV: ``SessionId<TAB>ItemId<TAB>Time`` (unix seconds), with a header."""
    # Integer columns read as integers: ids past 2**53 would not survive a float.
    columns = np.dtype([("session", np.int64), ("item", np.int64), ("time", np.float64)])
    table = np.atleast_1d(np.loadtxt(path, delimiter="\t", skiprows=1, dtype=columns))
    return Clicks(
        session_keys=table["session"].copy(),
        item_keys=table["item"].copy(),
        times=table["time"].copy(),
    )


def read_diginetica(path: Path) -> Clicks:
    """DIGINETICA item views: ``session_id;user_id;item_id;timeframe;eventdate``.

    ``timeframe`` is milliseconds since the session began and ``eventdate`` its day, so the
    click time is the day's midnight (UTC) plus the timeframe.
    """
    sessions: list[int] = []
    items: list[int] = []
    times: list[float] = []
    day_cache: dict[str, float] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh, delimiter=";"):
            day = row["eventdate"]
            if day not in day_cache:
                day_cache[day] = datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()
            sessions.append(int(row["session_id"]))
            items.append(int(row["item_id"]))
            times.append(day_cache[day] + int(row["timeframe"]) / 1000.0)
    return Clicks(np.asarray(sessions, np.int64), np.asarray(items, np.int64), np.asarray(times))


def read_retailrocket(
    path: Path, events: tuple[str, ...] = ("view",), gap: float = SESSION_GAP_SECONDS
) -> Clicks:
    """RetailRocket events: ``timestamp(ms),visitorid,event,itemid,transactionid,datetime``.

    Only ``events`` are kept (views by default: the next-item task predicts the next product
    looked at; a cart add or purchase of it would repeat the view). Sessions are cut per
    visitor at pauses longer than ``gap`` seconds.
    """
    visitors: list[int] = []
    items: list[int] = []
    times: list[float] = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["event"] not in events:
                continue
            visitors.append(int(row["visitorid"]))
            items.append(int(row["itemid"]))
            times.append(int(row["timestamp"]) / 1000.0)
    visitor = np.asarray(visitors, np.int64)
    time = np.asarray(times)
    item = np.asarray(items, np.int64)
    order = np.lexsort((time, visitor))
    visitor, time, item = visitor[order], time[order], item[order]
    new_session = np.ones(visitor.shape[0], dtype=bool)
    new_session[1:] = (visitor[1:] != visitor[:-1]) | (np.diff(time) > gap)
    session = np.cumsum(new_session).astype(np.int64)
    return Clicks(session, item, time)


def read_clicks(path: Path, fmt: Format) -> Clicks:
    if fmt == "session-rec":
        return read_session_rec(path)
    if fmt == "diginetica":
        return read_diginetica(path)
    if fmt == "retailrocket":
        return read_retailrocket(path)
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
