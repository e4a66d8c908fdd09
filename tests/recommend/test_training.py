"""Training: snapshots from the event log, folding new events in, the worker's schedule."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from shoptrack.cli.main import app
from shoptrack.recommend.model import Counters
from shoptrack.recommend.scheduler import RecommendationScheduler
from shoptrack.recommend.snapshot_codec import load_as
from shoptrack.recommend.training import latest_snapshot, update_counters
from shoptrack.store.tables import rec_counters, rec_snapshots
from tests.recommend.shop import Shop, item


def test_train_writes_a_snapshot_of_every_model(shop: Shop) -> None:
    shop.views("v1", "a", "b", "c", session="s1")
    shop.views("v2", "a", "b", session="s2")
    shop.cart("v2", "a", "b", session="s2")
    shop.purchase("v3", "a", "c", session="s3")
    shop.block("sr")  # a variant naming a registry algorithm gets it trained
    result = shop.train()
    assert (result.snapshot_id, result.events, result.items, result.sessions) == (1, 7, 3, 2)
    with shop.engine.connect() as conn:
        snap = latest_snapshot(conn, shop.site_id)
    assert snap is not None
    model = snap[1]
    assert model.keys.tolist() == ["a", "b", "c"]
    assert model.counters.views.tolist() == [2, 2, 1]
    assert model.counters.purchases.tolist() == [1, 0, 1]
    assert model.counters.carts.tolist() == [1, 1, 0]
    assert set(model.session_models) == {"vstan-blend", "sr"}
    assert model.baskets == 2  # one purchase, one final cart
    assert model.also_viewed is not None and model.bought_together is not None
    items, _ = model.bought_together.recommend([0], 2)
    assert set(items.tolist()) == {1, 2}
    # Only the newest two snapshots are kept.
    shop.train()
    assert shop.train().snapshot_id == 3
    with shop.engine.connect() as conn:
        ids = conn.execute(
            select(rec_snapshots.c.snapshot_id).where(rec_snapshots.c.site_id == shop.site_id)
        ).scalars()
        assert sorted(ids) == [2, 3]


def test_new_events_fold_into_counters_and_serving_sees_them(shop: Shop) -> None:
    shop.catalog(item("a"), item("b"))
    shop.views("v1", "a", "a", "b")
    shop.train()
    variant = shop.variant_of(shop.block("popular", {"by": "views"}))
    assert shop.keys(variant) == ["a", "b"]
    for n in range(3):
        shop.views(f"w{n}", "b")
    assert update_counters(shop.engine, shop.site_id) == 3
    assert update_counters(shop.engine, shop.site_id) == 0
    with shop.engine.connect() as conn:
        row = conn.execute(select(rec_counters).where(rec_counters.c.site_id == shop.site_id)).one()
        snapshots = conn.execute(select(func.count()).select_from(rec_snapshots)).scalar_one()
    counters = load_as(row.data, Counters)
    assert counters.views.tolist() == [2, 4] and snapshots == 1 and row.snapshot_id == 1
    assert shop.keys(variant) == ["b", "a"]
    # A full retrain replaces the counters.
    shop.train()
    with shop.engine.connect() as conn:
        left = conn.execute(select(func.count()).select_from(rec_counters)).scalar_one()
    assert left == 0 and shop.keys(variant) == ["b", "a"]


def test_bot_views_move_no_counter_and_train_no_model(shop: Shop) -> None:
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    shop.views("v1", "a", "b")
    shop.views("crawler", "c", "c", "c", "b", user_agent=googlebot)
    result = shop.train()
    with shop.engine.connect() as conn:
        snap = latest_snapshot(conn, shop.site_id)
    assert snap is not None
    assert result.events == 2 and result.sessions == 1
    assert snap[1].keys.tolist() == ["a", "b"] and snap[1].counters.views.tolist() == [1, 1]
    # Between retrains: a bot's views fold into nothing, a visitor's do.
    shop.views("crawler", "a", "a", "a", user_agent=googlebot)
    shop.views("v2", "b")
    assert update_counters(shop.engine, shop.site_id) == 1
    with shop.engine.connect() as conn:
        row = conn.execute(select(rec_counters).where(rec_counters.c.site_id == shop.site_id)).one()
    assert load_as(row.data, Counters).views.tolist() == [1, 2]
    # SHOPTRACK_INCLUDE_BOTS=true: the crawler's views count as any visitor's.
    everything = shop.train(include_bots=True)
    with shop.engine.connect() as conn:
        snap = latest_snapshot(conn, shop.site_id)
    assert snap is not None and everything.events == 10
    assert snap[1].keys.tolist() == ["a", "b", "c"]
    assert snap[1].counters.views.tolist() == [4, 3, 3]


def test_counters_decay_and_trending() -> None:
    counters = Counters.empty(3)
    day = 86400.0
    old = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=np.int64)
    counters.fold("view", old, np.full(8, 0.0) + 1e6)
    counters.fold("view", np.array([2, 2, 2, 0], dtype=np.int64), np.full(4, 1e6 + 20 * day))
    assert counters.views.tolist() == [5, 4, 3]
    trending = counters.trending()
    assert trending[2] > 0 and trending[1] == 0 and int(np.argmax(trending)) == 2
    assert counters.long[1] < 4 * 0.2  # twenty days later, with a one-week half-life


def test_worker_schedule_trains_then_folds(shop: Shop) -> None:
    shop.views("v1", "a", "b")
    settings = shop.settings.model_copy(
        update={"recs_update_interval_s": 0.001, "recs_train_interval_s": 3600}
    )
    scheduler = RecommendationScheduler(shop.engine, settings)
    time.sleep(0.01)  # the first pass waits one interval
    with shop.engine.begin() as conn:
        scheduler.handle(conn, 0, 10**9)
    assert scheduler._thread is not None
    scheduler._thread.join(30)
    with shop.engine.connect() as conn:
        snap = latest_snapshot(conn, shop.site_id)
    assert snap is not None and snap[0] == 1
    shop.views("v2", "b")
    time.sleep(0.01)
    with shop.engine.begin() as conn:
        scheduler.handle(conn, 0, 10**9)
    scheduler._thread.join(30)
    with shop.engine.connect() as conn:
        assert latest_snapshot(conn, shop.site_id) is not None
        row = conn.execute(select(rec_counters).where(rec_counters.c.site_id == shop.site_id)).one()
    assert load_as(row.data, Counters).views.tolist() == [1, 2]  # folded, not retrained


# A (pickled, older-format) snapshot naming a module this installation does not have: what a
# server met when its package was reinstalled under it.
UNLOADABLE = b"\x80\x02cshoptrack.recommend.gone\nModel\n)\x81."


def _plant_snapshot(shop: Shop, data: bytes) -> int:
    with shop.engine.begin() as conn:
        newest = conn.execute(select(func.max(rec_snapshots.c.snapshot_id))).scalar_one()
        conn.execute(
            rec_snapshots.insert().values(
                site_id=shop.site_id,
                snapshot_id=int(newest) + 1,
                created_at=0,
                upto_seq=0,
                events=0,
                items=0,
                seconds=0.0,
                data=data,
            )
        )
    return int(newest) + 1


def test_an_unloadable_snapshot_is_logged_and_the_last_good_model_serves(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    shop.catalog(item("a"), item("b"), item("c"))
    shop.views("v1", "c", "c")
    shop.views("v2", "c", "b")
    shop.train()
    variant = shop.variant_of(shop.block("popular", {"by": "views"}))
    good = shop.keys(variant)
    assert good[:2] == ["c", "b"]

    bad = _plant_snapshot(shop, UNLOADABLE)
    with caplog.at_level(logging.ERROR):
        assert shop.keys(variant) == good
    message = caplog.text
    assert f"snapshot {bad} of site {shop.site_id}" in message
    assert "shoptrack.recommend.gone.Model" in message

    # Both kept snapshots unloadable: the model already in memory keeps serving.
    _plant_snapshot(shop, UNLOADABLE)
    assert shop.keys(variant) == good


def test_a_failed_training_says_which_site_and_why(shop: Shop) -> None:
    shop.views("v1", "a", "b")
    with shop.engine.begin() as conn:  # a store that refuses the snapshot: a real failure
        conn.execute(text("ALTER TABLE rec_snapshots RENAME TO rec_snapshots_away"))
    try:
        result = CliRunner().invoke(
            app, ["train", "--site", shop.site_id, "--database-url", shop.settings.database_url]
        )
    finally:
        with shop.engine.begin() as conn:
            conn.execute(text("ALTER TABLE rec_snapshots_away RENAME TO rec_snapshots"))
    assert result.exit_code == 1
    assert f"training {shop.site_id} failed:" in result.stderr
    assert "rec_snapshots" in result.stderr
    assert "the last good models keep serving" in result.stderr
