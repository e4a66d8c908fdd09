"""Deleting and pausing blocks: what /recs serves at once, what the API and CLI answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shoptrack.cli.main import app
from shoptrack.config import Settings
from shoptrack.services import Services
from shoptrack.web.app import create_app
from tests.recommend.shop import Shop, item
from tests.support.payloads import browser_event


@pytest.fixture
def cached_shop(database_url: str, tmp_path: Path) -> Iterator[Shop]:
    """A shop whose /recs answers from memory for five minutes between store checks."""
    settings = Settings(
        database_url=database_url,
        key_file=tmp_path / "shoptrack.keys",
        commit_interval_ms=1,
        run_processors=False,
        recs_refresh_interval_s=300,
    )
    with TestClient(create_app(settings)) as client:
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        created, key = services.site_repo.create("Cached recs shop")
        yield Shop(client, created.site_id, key, tmp_path)


def page_block_ids(shop: Shop, **params: str) -> list[object]:
    response = shop.client.get(f"/recs/{shop.site_id}/blocks", params=params)
    assert response.status_code == 200, response.text
    return [b["block_id"] for b in response.json()["blocks"]]


def report_totals(shop: Shop, block_id: int) -> list[dict[str, Any]]:
    response = shop.client.get(
        "/api/v1/reports/blocks", params={"block_id": str(block_id)}, headers=shop.auth
    )
    assert response.status_code == 200, response.text
    totals: list[dict[str, Any]] = response.json()["totals"]
    return totals


def test_a_deleted_block_stops_being_served_at_once_and_its_report_stays(
    cached_shop: Shop,
) -> None:
    shop = cached_shop
    shop.catalog(item("a"), item("b"))
    block = shop.block("popular", page_type="product")
    other = shop.block("new", page_type="product")
    variant = shop.variant_of(block)
    assert shop.keys(variant) == ["a", "b"]  # loaded into the serving cache
    assert page_block_ids(shop, page_type="product") == [block["block_id"], other["block_id"]]
    seen = [{"product_id": "a", "container_type": f"{block['block_id']}_{variant}"}]
    shop.send("v1", browser_event("ProductImpression", {"ProductImpression": seen}))
    shop.services.runner.drain()
    assert report_totals(shop, block["block_id"])[0]["impressions"] == 1

    deleted = shop.client.delete(f"/api/v1/blocks/{block['block_id']}", headers=shop.auth)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"deleted": block["block_id"]}
    gone = shop.get(variant)
    assert gone.status_code == 404
    assert gone.json() == {"error": f"variantId {variant} was not found in config"}
    assert page_block_ids(shop, page_type="product") == [other["block_id"]]
    listed = shop.client.get("/api/v1/blocks", headers=shop.auth).json()["blocks"]
    assert [b["block_id"] for b in listed] == [other["block_id"]]
    again = shop.client.get(f"/api/v1/blocks/{block['block_id']}", headers=shop.auth)
    assert again.status_code == 404 and again.json()["error"]["field"] == "block_id"
    twice = shop.client.delete(f"/api/v1/blocks/{block['block_id']}", headers=shop.auth)
    assert twice.status_code == 404 and twice.json()["error"]["code"] == "not_found"

    # Its report stays readable, and its number is never given to a new block.
    assert report_totals(shop, block["block_id"])[0]["impressions"] == 1
    newer = shop.block("popular", page_type="product")
    assert newer["block_id"] not in (block["block_id"], other["block_id"])
    assert newer["variants"][0]["variant_id"] != variant


def test_a_deleted_block_is_gone_for_other_processes_too(shop: Shop) -> None:
    shop.catalog(item("a"))
    block = shop.block("popular")
    variant = shop.variant_of(block)
    assert shop.get(variant).status_code == 200
    # Another process (the CLI) deletes it: this server's cache notices from the store.
    url = shop.settings.database_url
    runner = CliRunner()
    out = runner.invoke(
        app,
        ["blocks", "delete", "--site", shop.site_id, str(block["block_id"]), "--database-url", url],
    )
    assert out.exit_code == 0, out.output
    assert orjson.loads(out.stdout) == {"deleted": block["block_id"]}
    assert shop.get(variant).status_code == 404
    missing = runner.invoke(
        app, ["blocks", "delete", "--site", shop.site_id, "999", "--database-url", url]
    )
    assert missing.exit_code == 1 and "block 999 was not found" in missing.stderr


def test_a_paused_block_is_not_rendered_nor_served_and_can_go_live_again(
    cached_shop: Shop,
) -> None:
    shop = cached_shop
    shop.catalog(item("a"), item("b"))
    block = shop.block("popular", page_type="product")
    bid, variant = block["block_id"], shop.variant_of(block)
    assert shop.keys(variant) == ["a", "b"]
    token = shop.client.get(f"/api/v1/blocks/{bid}", headers=shop.auth).json()["preview_token"]

    paused = shop.client.post(
        f"/api/v1/blocks/{bid}/status", json={"status": "paused"}, headers=shop.auth
    )
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert page_block_ids(shop, page_type="product") == []
    assert page_block_ids(shop, page_type="product", preview=token) == []
    answer = shop.get(variant)
    assert answer.status_code == 404
    assert answer.json() == {"error": f"variantId {variant} is paused (block {bid})"}
    made = shop.client.post(
        "/api/v1/contacts", json={"email": "ann@example.com"}, headers=shop.auth
    )
    contact_id = made.json()["contact"]["id"]
    email = shop.client.get(
        f"/api/v1/contacts/{contact_id}/recommendations", params={"block": bid}, headers=shop.auth
    )
    assert email.status_code == 404
    assert email.json()["error"] == {
        "code": "not_found",
        "message": f"block {bid} is paused",
        "field": "block",
    }

    live = shop.client.post(
        f"/api/v1/blocks/{bid}/status", json={"status": "live"}, headers=shop.auth
    )
    assert live.json()["status"] == "live"
    assert shop.keys(variant) == ["a", "b"]
    assert page_block_ids(shop, page_type="product") == [bid]
    history = shop.client.get(f"/api/v1/blocks/{bid}/history", headers=shop.auth).json()
    changes = [(h["action"], h["details"]) for h in history["history"][1:]]
    assert changes == [("status", {"status": "paused"}), ("status", {"status": "live"})]

    bad = shop.client.post(
        f"/api/v1/blocks/{bid}/status", json={"status": "sleeping"}, headers=shop.auth
    )
    assert bad.status_code == 400


def test_cli_pauses_a_block(shop: Shop) -> None:
    shop.catalog(item("a"))
    block = shop.block("popular")
    base = ["--site", shop.site_id, "--database-url", shop.settings.database_url]
    out = CliRunner().invoke(app, ["blocks", "set-status", *base, str(block["block_id"]), "paused"])
    assert out.exit_code == 0, out.output
    assert orjson.loads(out.stdout)["status"] == "paused"
    assert shop.get(shop.variant_of(block)).status_code == 404
