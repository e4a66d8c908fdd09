"""Migration 0009: reports written under the old, session-level rule are recomputed, not kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

from shoptrack.store.db import create_store_engine
from shoptrack.store.migrate import upgrade
from shoptrack.store.tables import processor_cursors, report_block_daily, report_clicks
from tests.support.databases import postgres_base_url, postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (its own PostgreSQL schema): the migrations start from nothing."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    base = postgres_base_url()
    if base is None:
        pytest.skip("needs SHOPTRACK_TEST_POSTGRES_URL")
    with postgres_schema(base) as url:
        yield url


def test_old_report_rows_are_emptied_and_replayed(fresh_url: str) -> None:
    engine = create_store_engine(fresh_url)
    try:
        upgrade(engine, "0005")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO report_block_daily (site_id, day, block_id, variant_id, "
                    "purchases, items, revenue) "
                    "VALUES ('s', '2026-11-02', '963', '1317', 1, 3, 181)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO report_clicks (site_id, visitor_id, product_key, block_id, "
                    "variant_id, clicked_at) VALUES ('s', 'v1', 'x', '963', '1317', 1)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO processor_cursors (name, position) "
                    "VALUES ('reports', 42), ('identity', 42)"
                )
            )
        upgrade(engine)
        with engine.connect() as conn:
            for table in (report_block_daily, report_clicks):
                assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
            cursors = dict(
                conn.execute(select(processor_cursors.c.name, processor_cursors.c.position)).all()
            )
            assert cursors == {"reports": 0, "identity": 42}
        columns = {c["name"] for c in inspect(engine).get_columns("report_block_daily")}
        assert {"assisted_purchases", "assisted_revenue"} <= columns
    finally:
        engine.dispose()
