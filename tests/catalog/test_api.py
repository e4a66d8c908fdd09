"""The catalogue through /api/v1 (feeds, import reports, products, categories) and /api/v2."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shoptrack.cli.main import app as cli_app
from shoptrack.config import Settings
from shoptrack.web.app import create_app
from tests.catalog.feedfiles import product, rss
from tests.catalog.httpserver import FeedServer, Route

FEED = rss(
    product("run-1", title="Road runner", google_product_category="Shoes > Sneakers > Running"),
    product("boot/2", title="Winter boot", google_product_category="Shoes > Boots"),
    product("hat-3", title="Sun hat", availability="out of stock", google_product_category="Hats"),
)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # Processors and the scheduler are driven by the tests here, not by background threads.
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


def add_feed(client: TestClient, key: str, url: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/feeds", json={"url": url, **extra}, headers=auth(key))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_feed_import_and_its_report(
    client: TestClient, site: tuple[str, str], server: FeedServer
) -> None:
    _, key = site
    server.routes["/feed.xml"] = Route(FEED, gzip=True)
    feed = add_feed(client, key, server.url("/feed.xml"), schedule="daily@03:00")
    assert feed["schedule"] == "daily@03:00" and feed["next_run_at"].endswith("T03:00:00.000Z")

    response = client.post(f"/api/v1/feeds/{feed['id']}/import?wait=true", headers=auth(key))
    assert response.status_code == 200, response.text
    done = response.json()["import"]
    assert done["status"] == "ok" and done["report"]["products"] == 3

    imports = client.get(f"/api/v1/feeds/{feed['id']}/imports", headers=auth(key)).json()
    record = imports["imports"][0]
    assert record["id"] == done["id"] and record["trigger"] == "api"
    assert record["report"]["in_stock"] == 2 and record["report"]["categories"] == 5
    listed = client.get("/api/v1/feeds", headers=auth(key)).json()["feeds"]
    assert [(f["id"], f["last_status"]) for f in listed] == [(feed["id"], "ok")]


def test_background_import_is_listed_while_running_then_done(
    client: TestClient, site: tuple[str, str], server: FeedServer
) -> None:
    _, key = site
    server.routes["/feed.xml"] = Route(FEED)
    feed = add_feed(client, key, server.url("/feed.xml"))
    response = client.post(f"/api/v1/feeds/{feed['id']}/import", headers=auth(key))
    assert response.status_code == 202
    import_id = response.json()["import"]["id"]
    deadline = time.monotonic() + 10
    while True:
        records = client.get(f"/api/v1/feeds/{feed['id']}/imports", headers=auth(key)).json()
        record = next(r for r in records["imports"] if r["id"] == import_id)
        if record["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert record["status"] == "ok"


def test_products_categories_and_history(
    client: TestClient, site: tuple[str, str], server: FeedServer
) -> None:
    site_id, key = site
    server.routes["/feed.xml"] = Route(FEED)
    feed = add_feed(client, key, server.url("/feed.xml"))
    client.post(f"/api/v1/feeds/{feed['id']}/import?wait=true", headers=auth(key))

    def keys(query: str) -> list[str]:
        response = client.get(f"/api/v1/products?{query}", headers=auth(key))
        assert response.status_code == 200, response.text
        return [p["key"] for p in response.json()["products"]]

    assert keys("") == ["boot/2", "hat-3", "run-1"]
    assert keys("category=shoes") == ["boot/2", "run-1"]
    assert keys("category=Running") == ["run-1"]
    assert keys("in_stock=false") == ["hat-3"]
    assert keys("q=boot&in_stock=true") == ["boot/2"]
    page = client.get("/api/v1/products?limit=2", headers=auth(key)).json()
    assert page["next_after"] == "hat-3"

    tree = client.get("/api/v1/categories", headers=auth(key)).json()["categories"]
    assert [(n["name"], n["total"]) for n in tree] == [("Hats", 1), ("Shoes", 2)]

    # A ProductUpdate through the real REST collector, then the processors.
    update = {
        "GeneralInfo": {
            "eventName": "ProductUpdate",
            "siteId": site_id,
            "datetime": int(time.time() * 1000),
            "cookies": {"sc": "server"},
        },
        "ProductUpdate": [
            {"product_id": "boot/2", "unit_price": "49.90 EUR", "isInStock": 0, "name": "Boot"}
        ],
    }
    assert client.post("/api/v2", json=update, headers=auth(key)).status_code == 200
    client.app.state.services.runner.drain()  # type: ignore[attr-defined]

    boot = client.get("/api/v1/products/boot/2", headers=auth(key)).json()
    assert (boot["title"], boot["price"], boot["currency"]) == ("Boot", 49.9, "EUR")
    assert (boot["in_stock"], boot["price_source"]) == (False, "update")
    assert [h["source"] for h in boot["history"]] == ["update", "feed"]
    missing = client.get("/api/v1/products/nope", headers=auth(key))
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "key"


def test_refusals(client: TestClient, site: tuple[str, str], tmp_path: Path) -> None:
    _, key = site
    local = tmp_path / "feed.xml"
    local.write_bytes(FEED)
    response = client.post("/api/v1/feeds", json={"url": str(local)}, headers=auth(key))
    assert response.status_code == 400 and response.json()["error"]["field"] == "url"
    response = client.post(
        "/api/v1/feeds",
        json={"url": "https://shop.example/feed.xml", "schedule": "sometimes"},
        headers=auth(key),
    )
    assert response.status_code == 400 and response.json()["error"]["field"] == "schedule"
    assert client.post("/api/v1/feeds", json={"url": "https://x.example/f"}).status_code == 401
    assert client.get("/api/v1/products").status_code == 401
    response = client.post("/api/v1/feeds/fd_unknown/import", headers=auth(key))
    assert response.status_code == 404

    repo = client.app.state.services.site_repo  # type: ignore[attr-defined]
    other_key = repo.create("Other shop")[1]
    feed = add_feed(client, key, "https://shop.example/feed.xml")
    response = client.get(f"/api/v1/feeds/{feed['id']}/imports", headers=auth(other_key))
    assert response.status_code == 404


def test_adding_a_private_feed_warns_at_once(
    client: TestClient, site: tuple[str, str], settings: Settings, tmp_path: Path
) -> None:
    site_id, key = site
    # This suite allows private hosts (its feed server is on loopback): no warning then.
    assert add_feed(client, key, "http://127.0.0.1:9/feed.xml")["warnings"] == []
    strict = settings.model_copy(update={"feed_allow_private_hosts": False})
    with TestClient(create_app(strict)) as strict_client:
        warned = add_feed(strict_client, key, "http://127.0.0.1:9/feed.xml")["warnings"]
    assert len(warned) == 1 and "SHOPTRACK_FEED_ALLOW_PRIVATE_HOSTS=true" in warned[0]
    env = {
        "SHOPTRACK_DATABASE_URL": settings.database_url,
        "SHOPTRACK_KEY_FILE": str(settings.key_file),
        "SHOPTRACK_FEED_ALLOW_PRIVATE_HOSTS": "false",
    }
    result = CliRunner().invoke(
        cli_app, ["feeds", "add", site_id, "http://localhost:9/f.xml"], env=env
    )
    assert result.exit_code == 0, result.output
    assert (
        "warning:" in result.stderr and "SHOPTRACK_FEED_ALLOW_PRIVATE_HOSTS=true" in result.stderr
    )
