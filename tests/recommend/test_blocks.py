"""Blocks and variants: identifiers, validation, change history, variant assignment, CLI."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
from typer.testing import CliRunner

from shoptrack.cli.main import app
from shoptrack.errors import ShoptrackError
from shoptrack.recommend.block_rules import MAX_NAME, check_block_fields
from shoptrack.recommend.blocks import Block, Variant, choose_variant, parse_variant_id
from tests.recommend.shop import Shop


def _block(*weights: float) -> Block:
    variants = tuple(Variant(10 + n, 7, "popular", {}, w) for n, w in enumerate(weights))
    return Block(
        "s",
        7,
        "b",
        "product",
        10,
        {},
        None,
        "beforeend",
        None,
        None,
        "live",
        None,
        "t",
        1,
        0,
        0,
        variants,
    )


def test_variant_ids_parse() -> None:
    assert parse_variant_id("r12v34") == (12, 34)
    assert parse_variant_id("r12") is None
    assert parse_variant_id("x12v3") is None


def test_variant_choice_respects_weights_and_is_stable() -> None:
    block = _block(1, 3)
    picks = Counter(choose_variant(block, f"visitor-{n}").variant_id for n in range(20_000))
    assert abs(picks[11] / 20_000 - 0.75) < 0.02
    for n in range(200):
        visitor = f"visitor-{n}"
        assert len({choose_variant(block, visitor).variant_id for _ in range(3)}) == 1
    # A zero weight takes no traffic; eight variants split evenly.
    assert {choose_variant(_block(0, 1), f"v{n}").variant_id for n in range(500)} == {11}
    even = Counter(choose_variant(_block(*[1] * 8), f"v{n}").variant_id for n in range(16_000))
    assert all(abs(c / 16_000 - 1 / 8) < 0.015 for c in even.values()) and len(even) == 8


def test_create_identifiers_and_history(shop: Shop) -> None:
    block = shop.block("similar", placement_id=19534, title="Similar", selector="#recs")
    assert block["variants"][0]["variant_id"] == f"r{block['block_id']}v1"
    assert block["variants"][0]["container_type"] == f"19534_r{block['block_id']}v1"
    other = shop.block("popular")
    assert other["block_id"] == block["block_id"] + 1
    assert other["variants"][0]["container_type"] == f"{other['block_id']}_r{other['block_id']}v2"

    bid = block["block_id"]
    url = f"/api/v1/blocks/{bid}"
    assert shop.client.patch(url, json={"count": 4}, headers=shop.auth).json()["count"] == 4
    added = shop.client.post(
        f"{url}/variants", json={"algorithm": "also-viewed", "weight": 2}, headers=shop.auth
    ).json()
    assert [v["variant_id"] for v in added["variants"]] == [f"r{bid}v1", f"r{bid}v3"]
    vid = added["variants"][1]["variant_id"]
    patched = shop.client.patch(f"{url}/variants/{vid}", json={"weight": 5}, headers=shop.auth)
    assert patched.json()["variants"][1]["weight"] == 5
    status = shop.client.post(f"{url}/status", json={"status": "preview"}, headers=shop.auth)
    assert status.json()["status"] == "preview"

    shown = shop.client.get(url, headers=shop.auth).json()
    history = shown["history"]
    assert [h["action"] for h in history] == [
        "create",
        "update",
        "add_variant",
        "update_variant",
        "status",
    ]
    assert (
        [h["version"] for h in history] == [1, 2, 3, 4, 5] == list(range(1, shown["version"] + 1))
    )
    assert all(h["at"].endswith("Z") for h in history)
    assert history[0]["at"] <= history[-1]["at"]  # ISO 8601 strings sort as times
    assert history[1]["details"] == {"count": 4}
    listed = shop.client.get("/api/v1/blocks", headers=shop.auth).json()["blocks"]
    assert [b["block_id"] for b in listed] == [bid, other["block_id"]]


def test_validation_and_auth(shop: Shop) -> None:
    def create(body: dict[str, object]) -> int:
        response = shop.client.post("/api/v1/blocks", json=body, headers=shop.auth)
        return response.status_code

    one = [{"algorithm": "popular"}]
    assert create({"page_type": "checkout", "variants": one}) == 400
    assert create({"page_type": "product", "variants": [{"algorithm": "magic"}]}) == 400
    assert create({"page_type": "product", "variants": one * 9}) == 400
    assert create({"page_type": "product", "variants": []}) == 400
    assert create({"page_type": "product", "variants": one, "filters": {"colour": 1}}) == 400
    assert create({"page_type": "product", "variants": one, "position": "middle"}) == 400
    assert shop.client.get("/api/v1/blocks").status_code == 401
    block = shop.block("popular")
    url = f"/api/v1/blocks/{block['block_id']}/variants"
    for _ in range(7):
        assert (
            shop.client.post(url, json={"algorithm": "new"}, headers=shop.auth).status_code == 201
        )
    assert shop.client.post(url, json={"algorithm": "new"}, headers=shop.auth).status_code == 400
    assert shop.client.get("/api/v1/blocks/999", headers=shop.auth).status_code == 404


def test_page_blocks_live_preview_and_stable_variant(shop: Shop) -> None:
    live = shop.block("popular", page_type="product", selector=".pdp", template="<b>{{name}}</b>")
    shop.block("new", page_type="any")
    shop.block("popular", page_type="cart")
    preview = shop.block("trending", page_type="product", status="preview")
    added = shop.client.post(
        f"/api/v1/blocks/{live['block_id']}/variants",
        json={"algorithm": "similar", "weight": 1},
        headers=shop.auth,
    )
    assert added.status_code == 201

    def blocks(**params: str) -> list[dict[str, object]]:
        response = shop.client.get(f"/recs/{shop.site_id}/blocks", params=params)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        result: list[dict[str, object]] = response.json()["blocks"]
        return result

    shown = blocks(page_type="product", visitor="v1")
    assert [b["page_type"] for b in shown] == ["product", "any"]
    first = shown[0]
    assert set(first) >= {
        "block_id",
        "variant_id",
        "container_type",
        "page_type",
        "selector",
        "position",
        "template",
        "title",
        "count",
    }
    assert first["selector"] == ".pdp" and first["template"] == "<b>{{name}}</b>"
    for _ in range(3):
        assert blocks(page_type="product", visitor="v1")[0]["variant_id"] == first["variant_id"]
    seen = {blocks(page_type="product", visitor=f"v{n}")[0]["variant_id"] for n in range(40)}
    assert len(seen) == 2
    token = shop.client.get(f"/api/v1/blocks/{preview['block_id']}", headers=shop.auth).json()
    with_token = blocks(page_type="product", preview=str(token["preview_token"]))
    assert preview["block_id"] in [b["block_id"] for b in with_token]
    assert preview["block_id"] not in [
        b["block_id"] for b in blocks(page_type="product", preview="x")
    ]
    assert [b["page_type"] for b in blocks(page_type="cart")] == ["any", "cart"]
    assert shop.client.get(f"/recs/{shop.site_id}/blocks?page_type=moon").status_code == 400


def test_cli_blocks_and_train(shop: Shop) -> None:
    runner = CliRunner()
    url = shop.settings.database_url
    base = ["--site", shop.site_id, "--database-url", url]

    def run(*args: str) -> dict[str, object]:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        parsed: dict[str, object] = orjson.loads(result.stdout.strip().splitlines()[-1])
        return parsed

    created = run(
        "blocks",
        "create",
        *base,
        "--page-type",
        "cart",
        "--algorithm",
        "cart-complements",
        "--count",
        "6",
        "--filters",
        '{"in_stock": true}',
    )
    bid = str(created["block_id"])
    run("blocks", "add-variant", *base, bid, "--algorithm", "popular", "--weight", "2")
    run(
        "blocks",
        "update",
        *base,
        bid,
        "--title",
        "You may also need",
        "--variant",
        f"r{bid}v2",
        "--weight",
        "3",
    )
    live = run("blocks", "set-status", *base, bid, "live")
    assert live["status"] == "live" and live["title"] == "You may also need"
    shown = run("blocks", "show", *base, bid)
    history = shown["history"]
    assert isinstance(history, list) and len(history) == 5
    assert {h["actor"] for h in history} == {"cli"}
    assert run("blocks", "list", *base)["block_id"] == created["block_id"]
    bad = runner.invoke(app, ["blocks", "set-status", *base, bid, "sleeping"])
    assert bad.exit_code == 1
    shop.views("v1", "p1", "p2")
    trained = run("train", "--site", shop.site_id, "--database-url", url)
    assert trained["events"] == 2 and trained["snapshot_id"] == 1


def test_a_name_longer_than_its_column_is_refused_naming_the_field() -> None:
    assert check_block_fields({"name": "x" * MAX_NAME}) == {"name": "x" * MAX_NAME}
    with pytest.raises(ShoptrackError) as refused:
        check_block_fields({"name": "x" * (MAX_NAME + 1)})
    assert refused.value.field == "name"
