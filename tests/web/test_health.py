"""Issue 13 point 9: a broken store answers 503 everywhere ingestion looks, never 500 or ok.

Reproduction: with a corrupted page in ``sites`` every /webevent answered 500 while /healthz
said ok. The damage is real: a copy of a SQLite store whose ``sites`` root page is overwritten.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
from fastapi.testclient import TestClient

from shoptrack.config import Settings
from shoptrack.store.sites_repo import SiteRepository
from shoptrack.web.app import create_app
from tests.support.corrupt import corrupt_table_page
from tests.support.databases import migrated_engine
from tests.support.payloads import browser_event, rest_body, webevent_body


def _store_with_site(tmp_path: Path) -> tuple[Settings, Path, str, str]:
    db = tmp_path / "shop.db"
    engine = migrated_engine(f"sqlite:///{db}")
    try:
        site, key = SiteRepository(engine).create("Damaged shop")
    finally:
        engine.dispose()
    settings = Settings(
        database_url=f"sqlite:///{db}", key_file=tmp_path / "shop.keys", commit_interval_ms=1
    )
    return settings, db, site.site_id, key


def _stored_events(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


def test_a_corrupted_sites_page_makes_ingestion_and_health_answer_503(tmp_path: Path) -> None:
    settings, db, site_id, key = _store_with_site(tmp_path)

    with TestClient(create_app(settings)) as client:
        # Damaged while serving (a damaged store at start-up stops `serve` instead: the key
        # check reads every encrypted column, `sites` included). New connections see it.
        corrupt_table_page(db, "sites", in_use=True)
        client.app.state.services.engine.dispose()  # type: ignore[attr-defined]
        body = webevent_body(site_id, browser_event("PageView"))
        answer = client.post(
            "/webevent", content=orjson.dumps(body), headers={"Content-Type": "text/plain"}
        )
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "unavailable"
        assert answer.headers["access-control-allow-origin"] == "*"
        assert answer.headers["retry-after"]

        rest = client.post(
            "/api/v2",
            json=rest_body(site_id, "PageView"),
            headers={"Authorization": f"Bearer {key}"},
        )
        assert rest.status_code == 503, rest.text
        assert rest.json()["error"]["code"] == "unavailable"

        health = client.get("/healthz")
        assert health.status_code == 503, health.text
        error = health.json()["error"]
        assert error["code"] == "unavailable" and error["field"] == "sites"
        assert "malformed" in error["message"]

        sites = client.get("/api/v1/site/settings", headers={"Authorization": f"Bearer {key}"})
        assert sites.status_code in (401, 503), sites.text  # never a 500
    assert _stored_events(db) == 0  # nothing acknowledged, nothing stored


def test_healthz_answers_ok_and_is_cached_for_a_moment(client: TestClient) -> None:
    first = client.get("/healthz")
    assert first.status_code == 200 and first.json()["status"] == "ok"
    health = client.app.state.health  # type: ignore[attr-defined]
    checked_at = health._checked_at
    assert client.get("/healthz").status_code == 200
    assert health._checked_at == checked_at  # the second answer came from the cache
