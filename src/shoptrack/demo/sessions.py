"""What the demo's visitors do, as session scripts: views, cart adds and purchases over time.

Two sources give the same shape. The RetailRocket sample (real shoppers' views, add-to-carts
and transactions) is replayed when it is present: its items are mapped onto the generated
catalogue by popularity rank (the most viewed item becomes the first product, and so on, the
long tail folded over), its sessions (30 minutes of silence apart) keep their inner timing and
are spread over the last 30 days in their original order. It holds 9,385 rows; a larger fill
replays it again with new visitor ids. Without it, sessions are generated: visitors browse one
category, popular products more often, and some add to the cart and buy.
"""

from __future__ import annotations

import csv
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shoptrack.demo.catalogue import DemoProduct

RETAILROCKET_FILE = Path("retailrocket-sample") / "sample_events.csv"
DAY_MS = 24 * 3600 * 1000
WINDOW_MS = 30 * DAY_MS
SESSION_GAP_MS = 30 * 60 * 1000
# The longest pause kept inside a replayed session (a tab left open for hours is not a visit).
_MAX_STEP_GAP_MS = 10 * 60 * 1000
# A visitor's activity by hour of day (UTC), for generated sessions: quiet nights, busy evenings.
_HOURLY = (2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 9, 8, 8, 8, 9, 10, 12, 13, 12, 10, 7, 4)

VIEW, CART, BUY = "view", "cart", "buy"


@dataclass(slots=True)
class Step:
    action: str  # VIEW, CART or BUY
    product: DemoProduct
    offset_ms: int  # since the session's start


@dataclass(slots=True)
class SessionScript:
    visitor: str
    start_ms: int
    steps: list[Step] = field(default_factory=list)


def retailrocket_path(data_dir: Path | None) -> Path | None:
    """The sample's CSV under ``data_dir`` (default ``../shared/data``), when it is there."""
    base = data_dir if data_dir is not None else Path("..") / "shared" / "data"
    path = base / RETAILROCKET_FILE
    return path if path.is_file() else None


def _read_retailrocket(path: Path) -> list[tuple[int, str, str, str]]:
    """(time ms, visitor, event, item) rows in visitor then time order."""
    rows: list[tuple[int, str, str, str]] = []
    with path.open(newline="") as stream:
        for record in csv.DictReader(stream):
            rows.append(
                (int(record["timestamp"]), record["visitorid"], record["event"], record["itemid"])
            )
    rows.sort(key=lambda r: (r[1], r[0]))
    return rows


def retailrocket_sessions(
    path: Path, products: list[DemoProduct], now_ms: int, replay: int
) -> list[SessionScript]:
    """One replay of the sample, visitor ids marked with the replay's number.

    Every replay after the first is shifted by a fraction of a day and a half, so the copies'
    visits do not fall on the same minutes.
    """
    rows = _read_retailrocket(path)
    ranks = {item: rank for rank, (item, _) in enumerate(Counter(r[3] for r in rows).most_common())}
    actions = {"view": VIEW, "addtocart": CART, "transaction": BUY}
    first, last = min(r[0] for r in rows), max(r[0] for r in rows)
    span = max(1, last - first)
    shift = (replay * 37 * 3600 * 1000) % (36 * 3600 * 1000)
    sessions: list[SessionScript] = []
    current: SessionScript | None = None
    previous: tuple[str, int] | None = None
    for at, visitor, event, item in rows:
        action = actions.get(event)
        if action is None:
            continue
        if previous is None or previous[0] != visitor or at - previous[1] > SESSION_GAP_MS:
            # The sample's months → the last 30 days (a replay after the first wraps around).
            start = now_ms - WINDOW_MS + ((at - first) * WINDOW_MS // span + shift) % WINDOW_MS
            current = SessionScript(f"rr{replay}-{visitor}", start)
            sessions.append(current)
            offset = 0
        else:
            assert current is not None and current.steps
            offset = current.steps[-1].offset_ms + min(at - previous[1], _MAX_STEP_GAP_MS)
        assert current is not None
        current.steps.append(Step(action, products[ranks[item] % len(products)], offset))
        previous = (visitor, at)
    for session in sessions:
        keep_in_past(session, now_ms)
    return sessions


def keep_in_past(session: SessionScript, now_ms: int) -> None:
    """Move a session that would end in the future back so it ends before now, with room for
    the pages the renderer adds after the last step (a checkout: two minutes)."""
    latest_end = now_ms - 5 * 60_000
    end = session.start_ms + (session.steps[-1].offset_ms if session.steps else 0)
    if end > latest_end:
        session.start_ms -= end - latest_end


def _start_time(rng: random.Random, now_ms: int) -> int:
    """A moment of the last 30 days: later days a little busier (a growing shop), by hour."""
    day = int(30 * rng.random() ** 0.8)  # 0 = today
    hour = rng.choices(range(24), weights=_HOURLY)[0]
    midnight = now_ms - now_ms % DAY_MS - day * DAY_MS
    start = midnight + hour * 3_600_000 + rng.randrange(3_600_000)
    return min(start, now_ms - rng.randrange(0, 3_600_000))


def generated_sessions(
    products: list[DemoProduct], now_ms: int, rng: random.Random
) -> Iterator[SessionScript]:
    """Endless generated sessions (the caller stops when it has enough events)."""
    by_category: dict[str, list[DemoProduct]] = defaultdict(list)
    for product in products:
        by_category[product.category].append(product)
    categories = sorted(by_category)
    category_weights = [1 / (rank + 1) ** 0.6 for rank in range(len(categories))]
    number = 0
    while True:
        number += 1
        # Returning visitors: a small pool of regulars comes back, most visitors come once.
        regular = rng.random() < 0.3
        visitor = f"gen-r{rng.randrange(400)}" if regular else f"gen-{number}"
        session = SessionScript(visitor, _start_time(rng, now_ms))
        shelf = by_category[rng.choices(categories, weights=category_weights)[0]]
        offset = 0
        viewed: list[DemoProduct] = []
        for _ in range(min(12, 1 + int(rng.expovariate(0.45)))):
            offset += rng.randrange(8_000, 120_000)
            product = shelf[min(len(shelf) - 1, int(rng.expovariate(0.25)))]
            viewed.append(product)
            session.steps.append(Step(VIEW, product, offset))
        if rng.random() < 0.12:
            offset += rng.randrange(5_000, 60_000)
            session.steps.append(Step(CART, rng.choice(viewed), offset))
            if rng.random() < 0.4:
                offset += rng.randrange(60_000, 600_000)
                session.steps.append(Step(BUY, session.steps[-1].product, offset))
        keep_in_past(session, now_ms)
        yield session
