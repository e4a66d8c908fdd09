"""The training job: event log → arrays → fitted algorithms → a snapshot row per site.

Read: ``ProductPage`` views (a click in the visitor's session), ``StatusCart`` (the cart as it
stands; a session's last one is its basket) and ``PurchasedItems`` (a bought basket). Sessions
are the collector's ``session_id`` (the visitor id where a REST event had none). Bot traffic
(:func:`~shoptrack.events.traffic.is_bot_event`) is left out of both training and the counters'
fold-in unless ``include_bots`` (``SHOPTRACK_INCLUDE_BOTS``) says otherwise.

Fitted:

* counters (:class:`~shoptrack.recommend.model.Counters`): views, carts, purchases and the two
  decayed accumulators behind "popular (time-decayed)" and "trending";
* the session models over view sessions: ``vstan-blend`` (personal, next item) always, and any
  other algorithm of ``recommend/algorithms/registry.py`` that one of the site's variants names;
* also viewed: session co-occurrence of views (:class:`CoOccurrence`, last item as context);
* bought together / cart complements: co-occurrence over baskets (purchases and final carts),
  rows normalised, the whole cart as context.

The per-category, new-arrival and similar-product lists come from the catalogue at serve time
(the catalogue changes between trainings; the counters above rank them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, Engine, delete, func, insert, select

from shoptrack.events.traffic import is_bot_event
from shoptrack.recommend import snapshot_codec
from shoptrack.recommend.algorithms import registry
from shoptrack.recommend.algorithms.data import Clicks, ItemIndex, Sessions
from shoptrack.recommend.algorithms.rules import CoOccurrence
from shoptrack.recommend.blocks import SESSION_ALGORITHMS
from shoptrack.recommend.model import Counters, SiteModel
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import events, rec_counters, rec_snapshots, rec_variants, sites

log = logging.getLogger(__name__)
TYPES = ("ProductPage", "StatusCart", "PurchasedItems")
KEEP_SNAPSHOTS = 2
Progress = Callable[[str, float], None]


def _quiet(_step: str, _fraction: float) -> None:
    pass


@dataclass
class EventArrays:
    """The events of one site as flat columns (product keys as read)."""

    view_sessions: list[str]
    view_items: list[str]
    view_times: list[float]
    basket_ids: list[str]
    basket_items: list[str]
    basket_times: list[float]
    cart_items: list[str]
    cart_times: list[float]
    purchase_items: list[str]
    purchase_times: list[float]
    purchase_qty: list[float]
    count: int = 0  # the events used (bots left out are not counted)
    upto_seq: int = 0


def _keys(data: Any) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    for product in data.get("products") or ():
        key = product.get("key") if isinstance(product, dict) else None
        if isinstance(key, str) and key:
            qty = product.get("quantity")
            out.append((key, float(qty) if isinstance(qty, int | float) and qty > 0 else 1.0))
    return out


def read_events(
    conn: Connection,
    site_id: str,
    after: int = 0,
    upto: int | None = None,
    include_bots: bool = False,
) -> EventArrays:
    """The site's training events with ``after < seq <= upto``, in log order."""
    e = events.c
    stmt = select(e.seq, e.type, e.session_id, e.visitor_id, e.occurred_at, e.data).where(
        e.site_id == site_id, e.type.in_(TYPES), e.seq > after
    )
    if upto is not None:
        stmt = stmt.where(e.seq <= upto)
    out = EventArrays([], [], [], [], [], [], [], [], [], [], [])
    last_cart: dict[str, tuple[list[tuple[str, float]], float]] = {}
    loads = orjson.loads
    result = conn.execution_options(stream_results=True, yield_per=20_000).execute(
        stmt.order_by(e.seq)
    )
    for seq, kind, session, visitor, occurred, data in result:
        out.upto_seq = seq
        event = loads(data)
        if not include_bots and is_bot_event(event):
            continue
        out.count += 1
        when = occurred / 1000.0
        products = _keys(event)
        if not products:
            continue
        owner = session or visitor or f"#{seq}"
        if kind == "ProductPage":
            out.view_sessions.append(owner)
            out.view_items.append(products[0][0])
            out.view_times.append(when)
        elif kind == "StatusCart":
            last_cart[owner] = (products, when)
        else:
            basket = f"p{seq}"
            for key, qty in products:
                out.basket_ids.append(basket)
                out.basket_items.append(key)
                out.basket_times.append(when)
                out.purchase_items.append(key)
                out.purchase_times.append(when)
                out.purchase_qty.append(qty)
    for owner, (products, when) in last_cart.items():
        for key, _ in products:
            out.basket_ids.append(f"c{owner}")
            out.basket_items.append(key)
            out.basket_times.append(when)
            out.cart_items.append(key)
            out.cart_times.append(when)
    return out


def _clicks(sessions: list[str], items: list[str], times: list[float]) -> Clicks:
    return Clicks(
        np.asarray(sessions, dtype=object), np.asarray(items, dtype=object), np.asarray(times)
    )


def variant_algorithms(conn: Connection, site_id: str) -> set[str]:
    v = rec_variants.c
    names = conn.execute(select(v.algorithm).where(v.site_id == site_id).distinct()).scalars()
    return {n for n in names if n in SESSION_ALGORITHMS}


def fold_counters(counters: Counters, index: dict[str, int], arrays: EventArrays) -> None:
    def idx(keys: list[str]) -> Any:
        return np.fromiter((index.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))

    counters.fold("view", idx(arrays.view_items), np.asarray(arrays.view_times))
    counters.fold("cart", idx(arrays.cart_items), np.asarray(arrays.cart_times))
    counters.fold(
        "purchase",
        idx(arrays.purchase_items),
        np.asarray(arrays.purchase_times),
        np.asarray(arrays.purchase_qty),
    )
    counters.upto_seq = max(counters.upto_seq, arrays.upto_seq)


def fit_model(arrays: EventArrays, algorithms: set[str], progress: Progress = _quiet) -> SiteModel:
    all_keys = np.asarray(arrays.view_items + arrays.basket_items, dtype=object)
    index = ItemIndex.from_keys(all_keys.astype(str)) if all_keys.size else None
    keys = index.keys if index is not None else np.zeros(0, dtype=str)
    counters = Counters.empty(int(keys.shape[0]))
    model = SiteModel(keys=keys, counters=counters, events=arrays.count)
    if index is None:
        return model
    progress("counters", 0.0)
    lookup = {str(k): i for i, k in enumerate(keys.tolist())}
    fold_counters(counters, lookup, arrays)
    views = _clicks(arrays.view_sessions, arrays.view_items, arrays.view_times)
    view_sessions = Sessions.from_clicks(
        Clicks(views.session_keys.astype(str), views.item_keys.astype(str), views.times), index
    )
    model.sessions = view_sessions.n_sessions
    names = ["vstan-blend", *sorted(algorithms - {"vstan-blend"})]
    steps = len(names) + 2
    for n, name in enumerate(names):
        progress(name, (n + 1) / steps)
        model.session_models[name] = registry.make(name).fit(view_sessions)
    progress("also-viewed", (len(names) + 1) / steps)
    model.also_viewed = CoOccurrence(context="last").fit(view_sessions)
    progress("bought-together", (len(names) + 2) / steps)
    baskets = Sessions.from_clicks(
        Clicks(
            np.asarray(arrays.basket_ids, dtype=str),
            np.asarray(arrays.basket_items, dtype=str),
            np.asarray(arrays.basket_times),
        ),
        index,
    )
    model.baskets = baskets.n_sessions
    model.bought_together = CoOccurrence(context="all").fit(baskets)
    counters.upto_seq = arrays.upto_seq
    return model


@dataclass(frozen=True)
class TrainResult:
    site_id: str
    snapshot_id: int
    events: int
    items: int
    sessions: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def train_site(
    engine: Engine, site_id: str, progress: Progress = _quiet, *, include_bots: bool = False
) -> TrainResult:
    """Fit every model of ``site_id`` on its whole event log and store a new snapshot."""
    started = time.perf_counter()
    progress("reading events", 0.0)
    with engine.connect() as conn:
        upto = int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())
        algorithms = variant_algorithms(conn, site_id)
        arrays = read_events(conn, site_id, 0, upto, include_bots)
    arrays.upto_seq = upto
    model = fit_model(arrays, algorithms, progress)
    model.counters.upto_seq = upto
    progress("writing snapshot", 1.0)
    blob = snapshot_codec.dump(model)
    seconds = time.perf_counter() - started
    with engine.begin() as conn:
        s = rec_snapshots.c
        current = conn.execute(
            select(func.coalesce(func.max(s.snapshot_id), 0)).where(s.site_id == site_id)
        ).scalar_one()
        snapshot_id = int(current) + 1
        conn.execute(
            insert(rec_snapshots).values(
                site_id=site_id,
                snapshot_id=snapshot_id,
                created_at=now_ms(),
                upto_seq=upto,
                events=arrays.count,
                items=model.n_items,
                seconds=seconds,
                data=blob,
            )
        )
        conn.execute(
            delete(rec_snapshots).where(
                s.site_id == site_id, s.snapshot_id <= snapshot_id - KEEP_SNAPSHOTS
            )
        )
        conn.execute(delete(rec_counters).where(rec_counters.c.site_id == site_id))
    return TrainResult(site_id, snapshot_id, arrays.count, model.n_items, model.sessions, seconds)


def update_counters(engine: Engine, site_id: str, *, include_bots: bool = False) -> int:
    """Fold events newer than the site's counters into them (no retrain); events folded."""
    with engine.connect() as conn:
        snap = latest_snapshot(conn, site_id)
        if snap is None:
            return 0
        snapshot_id, model = snap
        counters = load_counters(conn, site_id, snapshot_id) or model.counters
        upto = int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())
        arrays = read_events(conn, site_id, counters.upto_seq, upto, include_bots)
    if arrays.count == 0:
        return 0
    fold_counters(counters, model.index_of(), arrays)
    counters.upto_seq = upto
    with engine.begin() as conn:
        c = rec_counters.c
        conn.execute(delete(rec_counters).where(c.site_id == site_id))
        conn.execute(
            insert(rec_counters).values(
                site_id=site_id,
                snapshot_id=snapshot_id,
                upto_seq=upto,
                updated_at=now_ms(),
                data=snapshot_codec.dump(counters),
            )
        )
    return arrays.count


def latest_snapshot_id(conn: Connection, site_id: str) -> int:
    s = rec_snapshots.c
    stmt = select(func.coalesce(func.max(s.snapshot_id), 0)).where(s.site_id == site_id)
    return int(conn.execute(stmt).scalar_one())


def latest_snapshot(conn: Connection, site_id: str) -> tuple[int, SiteModel] | None:
    """The newest of the site's kept snapshots that loads, with its id.

    A snapshot that does not load (written by a newer release, or read while the installed
    package is being replaced under a running server) is logged with what failed and passed
    over for the one before it, so recommendations keep coming from the last good model.
    """
    s = rec_snapshots.c
    rows = conn.execute(
        select(s.snapshot_id, s.data)
        .where(s.site_id == site_id)
        .order_by(s.snapshot_id.desc())
        .limit(KEEP_SNAPSHOTS)
    ).all()
    for row in rows:
        try:
            model: SiteModel = snapshot_codec.load_as(row.data, SiteModel)
            return int(row.snapshot_id), model
        except Exception as exc:  # whatever a stored blob does wrong, the older one may load
            log.error(
                "recommendation snapshot %s of site %s cannot be loaded: %s: %s",
                row.snapshot_id, site_id, type(exc).__name__, exc,
            )  # fmt: skip
    return None


def counters_stamp(conn: Connection, site_id: str) -> int:
    stmt = select(rec_counters.c.updated_at).where(rec_counters.c.site_id == site_id)
    return int(conn.execute(stmt).scalar() or 0)


def load_counters(conn: Connection, site_id: str, snapshot_id: int) -> Counters | None:
    c = rec_counters.c
    row = conn.execute(select(c.snapshot_id, c.data).where(c.site_id == site_id)).first()
    if row is None or int(row.snapshot_id) != snapshot_id:
        return None
    try:
        counters: Counters = snapshot_codec.load_as(row.data, Counters)
    except Exception as exc:  # the model's own counters serve until the next fold-in
        log.error("recommendation counters of site %s cannot be loaded: %s: %s",
                  site_id, type(exc).__name__, exc)  # fmt: skip
        return None
    return counters


def all_sites(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [str(s) for s in conn.execute(select(sites.c.site_id)).scalars()]


def rewrite_pickled_blobs(engine: Engine) -> int:
    """Store the snapshots and counters written as pickles by older releases in the current
    format, once (the worker does it when it starts); rows that no longer load are left for
    the next training to replace. Returns the number of rows rewritten."""
    rewritten = 0
    for table, key in ((rec_snapshots, "snapshot_id"), (rec_counters, "snapshot_id")):
        pickled = func.substr(table.c.data, 1, 1) == b"\x80"
        with engine.connect() as conn:
            rows = conn.execute(select(table.c.site_id, table.c[key]).where(pickled)).all()
        for site_id, ident in rows:
            where = (table.c.site_id == site_id, table.c[key] == ident, pickled)
            with engine.begin() as conn:
                data = conn.execute(select(table.c.data).where(*where)).scalar()
                if data is None:
                    continue  # replaced meanwhile
                try:
                    value = snapshot_codec.load(data)
                except Exception as exc:  # logged; the next training replaces the row
                    log.error("stored model of %s (%s %s) cannot be read: %s: %s",
                              site_id, table.name, ident, type(exc).__name__, exc)  # fmt: skip
                    continue
                conn.execute(table.update().where(*where).values(data=snapshot_codec.dump(value)))
                rewritten += 1
    return rewritten
