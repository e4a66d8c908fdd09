"""Shared helpers for the recommendation tests: hand-made sessions and the real data folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from shoptrack.recommend.algorithms.data import Sessions

ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """The shared real data: ``$SHOPTRACK_DATA_DIR`` or ``../shared/data`` beside the repo."""
    return Path(os.environ.get("SHOPTRACK_DATA_DIR", ROOT.parent / "shared" / "data"))


def make_sessions(
    sessions: list[list[int]],
    n_items: int | None = None,
    start: float = 1_000_000.0,
    session_gap: float = 3600.0,
) -> Sessions:
    """Sessions over item indices as given, one minute between clicks, ``session_gap``
    seconds between session starts (so later sessions in the list are more recent)."""
    lengths = np.array([len(s) for s in sessions], dtype=np.int64)
    offsets = np.zeros(len(sessions) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    items = np.array([i for s in sessions for i in s], dtype=np.int64)
    times = np.array(
        [start + session_gap * n + 60.0 * j for n, s in enumerate(sessions) for j in range(len(s))]
    )
    return Sessions(
        offsets=offsets,
        items=items,
        times=times,
        keys=np.arange(len(sessions), dtype=np.int64),
        n_items=n_items if n_items is not None else int(items.max()) + 1,
    )


from tests.recommend.shop import shop  # noqa: E402,F401  (the fixture of the serving tests)
