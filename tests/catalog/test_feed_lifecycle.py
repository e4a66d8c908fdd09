"""Deleting feeds (API and CLI), and a failing feed that must not stop the other feeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from shoptrack.catalog.scheduler import FeedScheduler
from shoptrack.catalog.service import CatalogService
from shoptrack.cli.main import app
from shoptrack.config import Settings
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import catalog_feeds, catalog_imports, catalog_state
from tests.catalog.conftest import Catalog
from tests.catalog.feedfiles import product, rss
from tests.catalog.httpserver import FeedServer, Route


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        key_file=tmp_path / "shoptrack.keys",
        commit_interval_ms=1,
        run_processors=False,
        feed_timeout_s=2,  # The tests' feed server listens on 127.0.0.1.
        feed_allow_private_hosts=True,
    )


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def json_lines(output: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in output.splitlines() if line.startswith("{")]


def imported_feed(client: TestClient, key: str, url: str) -> str:
    added = client.post("/api/v1/feeds", json={"url": url, "schedule": "hourly"}, headers=auth(key))
    assert added.status_code == 201, added.text
    feed_id: str = added.json()["id"]
    done = client.post(f"/api/v1/feeds/{feed_id}/import?wait=true", headers=auth(key))
    assert done.json()["import"]["status"] == "ok", done.text
    return feed_id


def product_keys(client: TestClient, key: str) -> list[str]:
    answer = client.get("/api/v1/products", headers=auth(key)).json()
    return [p["key"] for p in answer["products"]]


def import_rows(client: TestClient, feed_id: str) -> int:
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        stmt = select(func.count()).where(catalog_imports.c.feed_id == feed_id)
        return int(conn.execute(stmt).scalar_one())


def test_deleting_a_feed_keeps_its_products_unless_purged(
    client: TestClient, site: tuple[str, str], server: FeedServer
) -> None:
    _, key = site
    server.routes["/shoes.xml"] = Route(rss(product("A"), product("B")))
    server.routes["/hats.xml"] = Route(rss(product("C")))
    shoes = imported_feed(client, key, server.url("/shoes.xml"))
    hats = imported_feed(client, key, server.url("/hats.xml"))
    assert product_keys(client, key) == ["A", "B", "C"]

    deleted = client.delete(f"/api/v1/feeds/{shoes}", headers=auth(key))
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"deleted": shoes, "purged_products": 0, "kept_products": 2}
    listed = client.get("/api/v1/feeds", headers=auth(key)).json()["feeds"]
    assert [f["id"] for f in listed] == [hats]  # its schedule went with it
    assert import_rows(client, shoes) == 0
    gone = client.get(f"/api/v1/feeds/{shoes}/imports", headers=auth(key))
    assert gone.status_code == 404 and gone.json()["error"]["field"] == "feed_id"
    # The products stay in the catalogue, owned by no feed: another feed's import keeps them.
    assert product_keys(client, key) == ["A", "B", "C"]
    client.post(f"/api/v1/feeds/{hats}/import?wait=true&force=true", headers=auth(key))
    assert product_keys(client, key) == ["A", "B", "C"]

    purged = client.delete(f"/api/v1/feeds/{hats}?purge=true", headers=auth(key))
    assert purged.json() == {"deleted": hats, "purged_products": 1, "kept_products": 0}
    assert product_keys(client, key) == ["A", "B"]
    assert client.get("/api/v1/categories", headers=auth(key)).status_code == 200

    again = client.delete(f"/api/v1/feeds/{hats}", headers=auth(key))
    assert again.status_code == 404
    assert again.json()["error"] == {
        "code": "not_found",
        "message": f"no feed {hats!r} for this site",
        "field": "feed_id",
    }
    assert client.delete(f"/api/v1/feeds/{hats}").status_code == 401


def test_a_feed_is_not_deleted_while_its_site_imports(
    client: TestClient, site: tuple[str, str], server: FeedServer
) -> None:
    site_id, key = site
    server.routes["/feed.xml"] = Route(rss(product("A")))
    feed_id = imported_feed(client, key, server.url("/feed.xml"))
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:  # an import of this site holds the lease
        conn.execute(
            update(catalog_state)
            .where(catalog_state.c.site_id == site_id)
            .values(lease_owner="im_other", lease_until=now_ms() + 60_000)
        )
    busy = client.delete(f"/api/v1/feeds/{feed_id}?purge=true", headers=auth(key))
    assert busy.status_code == 409, busy.text
    assert busy.json()["error"]["code"] == "conflict"
    assert "import" in busy.json()["error"]["message"]
    assert product_keys(client, key) == ["A"]


def test_cli_deletes_a_feed(catalog: Catalog, database_url: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("SHOPTRACK_KEY_FILE", str(catalog.tmp_path / "keys"))
    runner = CliRunner()
    db = ["--database-url", database_url]
    kept = catalog.file_feed(rss(product("K1")), "kept.xml")
    purged = catalog.file_feed(rss(product("P1"), product("P2")), "purged.xml")
    assert catalog.run(kept).status == "ok" and catalog.run(purged).status == "ok"

    out = runner.invoke(app, ["feeds", "delete", catalog.site_id, kept.feed_id, *db])
    assert out.exit_code == 0, out.output
    assert json_lines(out.stdout) == [
        {"deleted": kept.feed_id, "purged_products": 0, "kept_products": 1}
    ]
    out = runner.invoke(app, ["feeds", "delete", catalog.site_id, purged.feed_id, "--purge", *db])
    assert json_lines(out.stdout)[0]["purged_products"] == 2
    assert catalog.keys() == ["K1"]
    assert catalog.feeds.list_feeds(catalog.site_id) == []

    missing = runner.invoke(app, ["feeds", "delete", catalog.site_id, "fd_nothing", *db])
    assert missing.exit_code == 1 and "no feed 'fd_nothing'" in missing.stderr


def _due_now(catalog: Catalog) -> int:
    now = now_ms()
    with catalog.engine.begin() as conn:
        conn.execute(update(catalog_feeds).values(next_run_at=now - 1000))
    return now


def _broken_and_good(catalog: Catalog) -> tuple[str, str]:
    """A feed that fails (first in line) and a good one, both scheduled."""
    broken_path = catalog.tmp_path / "broken.csv"
    broken_path.write_text("not, a, feed\n")
    good_path = catalog.tmp_path / "good.xml"
    good_path.write_bytes(rss(product("G1"), product("G2")))
    broken = catalog.feeds.add(catalog.site_id, str(broken_path), "hourly", allow_files=True)
    good = catalog.feeds.add(catalog.site_id, str(good_path), "hourly", allow_files=True)
    return broken.feed_id, good.feed_id


def _last_status(catalog: Catalog, feed_id: str) -> tuple[str, str | None]:
    record = catalog.feeds.imports(catalog.site_id, feed_id, 1)[0]
    return record["status"], (record["error"] or {}).get("code")


def test_scheduled_imports_in_the_server_survive_a_failing_feed(
    catalog: Catalog, catalog_settings: Settings
) -> None:
    broken, good = _broken_and_good(catalog)
    service = CatalogService(catalog.engine, catalog_settings)
    try:
        service.scheduler.run_due(_due_now(catalog))
        assert service.imports.wait_idle(30)  # the queued imports finish
    finally:
        service.close()
    assert _last_status(catalog, broken) == ("failed", "not_a_feed")
    assert _last_status(catalog, good) == ("ok", None)
    assert catalog.keys() == ["G1", "G2"]


def test_scheduled_imports_of_the_worker_survive_a_failing_feed(
    catalog: Catalog, catalog_settings: Settings
) -> None:
    broken, good = _broken_and_good(catalog)
    # A schedule this version cannot read (stored by another one) fails only its own feed.
    unreadable_path = catalog.tmp_path / "odd.xml"
    unreadable_path.write_bytes(rss(product("O1")))
    odd = catalog.feeds.add(catalog.site_id, str(unreadable_path), "hourly", allow_files=True)
    now = _due_now(catalog)
    with catalog.engine.begin() as conn:
        conn.execute(
            update(catalog_feeds)
            .where(catalog_feeds.c.feed_id == odd.feed_id)
            .values(schedule="fortnightly", next_run_at=now - 2000)
        )
    outcomes = FeedScheduler(catalog.engine, catalog_settings).run_due(now)
    assert sorted((o.feed_id, o.status) for o in outcomes) == sorted(
        [(broken, "failed"), (good, "ok")]
    )
    assert _last_status(catalog, good) == ("ok", None)
    assert catalog.keys() == ["G1", "G2"]


def test_cli_import_of_several_feeds_survives_a_failing_one(
    catalog: Catalog, database_url: str, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SHOPTRACK_KEY_FILE", str(catalog.tmp_path / "keys"))
    broken, good = _broken_and_good(catalog)
    db = ["--database-url", database_url]
    out = CliRunner().invoke(app, ["feeds", "import", catalog.site_id, *db])
    assert out.exit_code == 1  # one feed failed
    outcomes = {o["feed_id"]: o for o in json_lines(out.stdout)}
    assert outcomes[broken]["error"]["code"] == "not_a_feed"
    assert outcomes[good]["status"] == "ok"
    assert _last_status(catalog, broken) == ("failed", "not_a_feed")
    assert catalog.keys() == ["G1", "G2"]
