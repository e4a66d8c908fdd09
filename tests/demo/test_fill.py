"""The demo fill on both stores: a small fill gives events, contacts, a catalogue with import
reports, blocks with report counts and a trained model, and a second fill reuses it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shoptrack.accounts.users import UserRepository
from shoptrack.config import Settings
from shoptrack.demo.account import DEMO_USER
from shoptrack.demo.fill import fill_demo, is_filled
from shoptrack.errors import ShoptrackError
from shoptrack.services import Services
from shoptrack.store import tables


def _count(services: Services, table: object, **where: object) -> int:
    stmt = select(func.count()).select_from(table)  # type: ignore[arg-type]
    for name, value in where.items():
        stmt = stmt.where(table.c[name] == value)  # type: ignore[attr-defined]
    with services.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


@pytest.fixture
def services(settings: Settings) -> Services:
    built = Services.build(settings)
    yield built  # type: ignore[misc]
    built.engine.dispose()


def test_a_small_fill_gives_every_page_something_to_show(
    services: Services, tmp_path: Path
) -> None:
    result = fill_demo(services, events_wanted=8000, data_dir=tmp_path / "no-data")
    assert not result.reused and result.api_key
    assert result.source == "generated"
    assert 8000 <= result.events + result.rejected < 8300
    assert _count(services, tables.events, site_id="demo") == result.events
    assert result.rejected > 0
    assert _count(services, tables.contacts, site_id="demo") == result.contacts > 0
    assert _count(services, tables.catalog_imports, site_id="demo", status="ok") == 2
    assert result.products > 300
    assert _count(services, tables.catalog_history, site_id="demo") > 0
    assert _count(services, tables.rec_blocks, site_id="demo", status="live") == 2
    assert _count(services, tables.report_block_daily, site_id="demo") > 0
    assert _count(services, tables.rec_snapshots, site_id="demo") == 1
    # Trigger messages decided and sent by the engine, and the visits they brought counted.
    assert _count(services, tables.trigger_messages, site_id="demo") == result.messages > 0
    assert _count(services, tables.trigger_messages, status="sent") > 0
    with services.engine.connect() as conn:
        types = {row[0] for row in conn.execute(select(tables.events.c.type).distinct())}
        first, last = conn.execute(
            select(func.min(tables.events.c.occurred_at), func.max(tables.events.c.occurred_at))
        ).one()
        changes = sorted(conn.execute(select(tables.rec_block_changes.c.at)).scalars())
    assert {"PageView", "ProductPage", "StatusCart", "PurchasedItems", "CustomerData"} <= types
    # The blocks' history sits in the month of traffic: made before it, changed within it.
    assert len(changes) == 3 and changes[0] < first < changes[-1] < last
    with services.engine.connect() as conn:
        updated = set(conn.execute(select(tables.rec_blocks.c.updated_at)).scalars())
    assert updated == {changes[0], changes[-1]}
    # A month of traffic, all of it in the past.
    assert 20 * 86_400_000 < last - first <= 30 * 86_400_000
    assert last <= time.time() * 1000
    assert is_filled(services)


def test_a_second_fill_reuses_the_filled_site(services: Services, tmp_path: Path) -> None:
    fill_demo(services, events_wanted=500, data_dir=tmp_path)
    events = _count(services, tables.events)
    again = fill_demo(services, events_wanted=500, data_dir=tmp_path)
    assert again.reused and again.api_key is None
    assert _count(services, tables.events) == events


def test_a_store_holding_another_site_is_refused(services: Services, tmp_path: Path) -> None:
    services.site_repo.create("A real shop", "shop")
    with pytest.raises(ShoptrackError, match="holds the site 'shop'"):
        fill_demo(services, events_wanted=500, data_dir=tmp_path)
    assert _count(services, tables.events) == 0


def _retailrocket_folder(root: Path) -> Path:
    """A few visitors in the sample's format: views, an add-to-cart, a transaction."""
    folder = root / "retailrocket-sample"
    folder.mkdir(parents=True)
    rows = ["timestamp,visitorid,event,itemid,transactionid,datetime"]
    start = 1_433_193_132_535
    for visitor in range(60):
        for step in range(4):
            at = start + visitor * 7_200_000 + step * 60_000
            rows.append(f"{at},{1000 + visitor},view,{(visitor * 7 + step) % 23},,")
        if visitor % 5 == 0:
            rows.append(f"{at + 60_000},{1000 + visitor},addtocart,{visitor % 23},,")
            rows.append(f"{at + 120_000},{1000 + visitor},transaction,{visitor % 23},{visitor},")
    (folder / "sample_events.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_retailrocket_sample_is_replayed_when_present(
    services: Services, tmp_path: Path
) -> None:
    data = _retailrocket_folder(tmp_path / "data")
    result = fill_demo(services, events_wanted=2000, data_dir=data)
    assert result.source.startswith("RetailRocket sample")
    with services.engine.connect() as conn:
        visitors = set(conn.execute(select(tables.events.c.visitor_id).distinct()).scalars())
        purchases = _count(services, tables.events, type="PurchasedItems")
    # Replayed again with new visitor ids until the events wanted are there.
    assert {v.split("-")[0] for v in visitors} >= {"rr0", "rr1"}
    assert purchases >= 12


def test_the_dashboard_user_gets_a_password_shown_once(services: Services, tmp_path: Path) -> None:
    users = UserRepository(services.engine)
    first = fill_demo(services, events_wanted=300, data_dir=tmp_path)
    assert first.password and users.authenticate(DEMO_USER, first.password) is not None
    assert users.by_email(DEMO_USER).granted_sites == ("demo",)
    again = fill_demo(services, events_wanted=300, data_dir=tmp_path)
    assert again.password is None
    assert users.authenticate(DEMO_USER, first.password) is not None
    fill_demo(services, events_wanted=300, data_dir=tmp_path, password="chosen-password-1")
    assert users.authenticate(DEMO_USER, "chosen-password-1") is not None
