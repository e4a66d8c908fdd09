"""The rules and messages through /api/v1 and the `shoptrack triggers` commands; the loop."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
from typer.testing import CliRunner

from shoptrack.cli.main import app
from tests.triggers.conftest import Shop


def test_rules_are_listed_with_defaults_and_changed_by_patch(shop: Shop) -> None:
    answer = shop.client.get("/api/v1/triggers", headers=shop.headers)
    assert answer.status_code == 200
    rules = {r["rule"]: r for r in answer.json()["rules"]}
    assert list(rules) == [
        "abandoned_cart",
        "abandoned_browse",
        "search_no_results",
        "wishlist",
        "price_drop",
        "back_in_stock",
    ]
    cart = rules["abandoned_cart"]
    assert (cart["enabled"], cart["channel"], cart["delay_seconds"], cart["cap_days"]) == (
        False,
        "email",
        3600,
        7,
    )
    assert rules["wishlist"]["evaluated"] is True
    changed = shop.configure("abandoned_cart", enabled=True, delay_seconds="90s", cap_days=3)
    assert changed["rule"]["delay_seconds"] == 90 and changed["rule"]["enabled"] is True
    again = shop.client.get("/api/v1/triggers", headers=shop.headers).json()["rules"][0]
    assert again["delay_seconds"] == 90 and again["cap_days"] == 3


def test_bad_rule_settings_are_refused_naming_the_field(shop: Shop) -> None:
    cases = [
        ("abandoned_cart", {"delay_seconds": 30}, "delay_seconds"),
        ("abandoned_cart", {"delay_seconds": "soon"}, "delay_seconds"),
        ("abandoned_cart", {"channel": "sms"}, "channel"),
        ("abandoned_cart", {"enabled": "yes"}, "enabled"),
        ("abandoned_cart", {"webhook_url": "ftp://x"}, "webhook_url"),
        ("abandoned_cart", {"channel": "webhook", "enabled": True}, "webhook_url"),
        ("abandoned_cart", {"colour": "red"}, "colour"),
        ("wishlist", {"thresholds": {"window_days": 0}}, "thresholds.window_days"),
        ("no_such_rule", {"enabled": True}, "rule"),
    ]
    for rule, body, field in cases:
        answer = shop.client.patch(f"/api/v1/triggers/{rule}", json=body, headers=shop.headers)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]["field"] == field, answer.text
    answer = shop.client.patch(
        "/api/v1/triggers/abandoned_cart", content=b"[1]", headers=shop.headers
    )
    assert answer.status_code == 400
    assert shop.client.get("/api/v1/triggers").status_code == 401


def test_messages_are_listed_by_filters_and_pages(shop: Shop) -> None:
    shop.configure("abandoned_cart", enabled=True)
    for i in range(3):
        shop.identify(f"v{i}", user_email=f"p{i}@example.com")
        shop.cart(f"v{i}", "p1", guid=f"g{i}")
    shop.identify("nomail", externalCustomerId="X-1")
    shop.cart("nomail", "p1", guid="gx")
    shop.drain()
    shop.clock.advance(61)
    shop.engine().tick()

    def get(query: str) -> Any:
        answer = shop.client.get(f"/api/v1/messages?{query}", headers=shop.headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    assert len(get("")["messages"]) == 4
    sent = get("status=sent")["messages"]
    assert len(sent) == 3 and all(m["status"] == "sent" for m in sent)
    [suppressed] = get("status=suppressed&rule=abandoned_cart")["messages"]
    assert suppressed["reason"] == "no e-mail address"
    assert "email" not in suppressed and "@" not in orjson.dumps(suppressed).decode()
    one = get(f"contact_id={suppressed['contact_id']}")["messages"]
    assert one == [suppressed]
    first = get("limit=3")
    rest = get(f"limit=3&cursor={first['next']}")
    ids = [m["message_id"] for m in first["messages"] + rest["messages"]]
    assert len(set(ids)) == 4 and rest["next"] is None
    for query, field in (("status=lost", "status"), ("rule=nope", "rule"), ("limit=0", "limit")):
        answer = shop.client.get(f"/api/v1/messages?{query}", headers=shop.headers)
        assert answer.status_code == 400 and answer.json()["error"]["field"] == field
    detail = shop.client.get(f"/api/v1/messages/{sent[0]['message_id']}", headers=shop.headers)
    assert detail.json()["message"]["attempt_log"][0]["outcome"] == "sent"
    # Only a failed message can be retried.
    retry = shop.client.post(
        f"/api/v1/messages/{sent[0]['message_id']}/retry", headers=shop.headers
    )
    assert retry.status_code == 409 and retry.json()["error"]["code"] == "conflict"
    missing = shop.client.post("/api/v1/messages/m-none/retry", headers=shop.headers)
    assert missing.status_code == 404
    paths = shop.client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/triggers", "/api/v1/triggers/{rule}", "/api/v1/messages"} <= set(paths)
    assert "/api/v1/messages/{message_id}/retry" in paths


def test_cli_lists_sets_and_previews(shop: Shop) -> None:
    db = ["--database-url", shop.services.settings.database_url]
    env = {"SHOPTRACK_KEY_FILE": str(shop.services.settings.key_file)}
    runner = CliRunner()
    out = runner.invoke(
        app,
        ["triggers", "set", shop.site_id, "abandoned_cart", "--enabled", "--delay", "30m", *db],
        env=env,
    )
    assert out.exit_code == 0, out.output
    assert orjson.loads(out.stdout)["delay_seconds"] == 1800
    bad = runner.invoke(
        app, ["triggers", "set", shop.site_id, "abandoned_cart", "--delay", "10s", *db], env=env
    )
    assert bad.exit_code == 2 and "delay" in bad.output
    listed = runner.invoke(app, ["triggers", "list", shop.site_id, *db], env=env)
    rules = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert rules[0]["rule"] == "abandoned_cart" and rules[0]["enabled"] is True
    shop.identify("v1", user_email="anna@example.com")
    shop.cart("v1", "p1", "p2")
    shop.drain()
    contact = shop.client.get("/api/v1/contacts", headers=shop.headers).json()["contacts"][0]
    preview = runner.invoke(app, ["triggers", "preview", shop.site_id, contact["id"], *db], env=env)
    assert preview.exit_code == 0, preview.output
    verdicts = {v["rule"]: v for v in map(orjson.loads, preview.stdout.splitlines())}
    cart = verdicts["abandoned_cart"]
    assert (cart["would_send"], cart["reason"], cart["episode_key"]) == (
        False,
        "not due yet",
        "g:g1",
    )
    assert [p["product_id"] for p in cart["products"]] == ["p1", "p2"]
    assert verdicts["abandoned_browse"]["reason"] == "the rule is disabled"
    assert verdicts["wishlist"]["reason"] == "the rule is disabled"
    assert shop.messages() == []  # a preview writes nothing
    unknown = runner.invoke(app, ["triggers", "preview", shop.site_id, "ct_nobody", *db], env=env)
    assert unknown.exit_code == 2 and "not found" in unknown.output


def test_the_worker_loop_decides_and_sends_within_a_tick(shop: Shop) -> None:
    shop.configure("abandoned_cart", enabled=True, delay_seconds=60)
    shop.identify("v1", user_email="anna@example.com")
    shop.cart("v1", "p1")
    shop.drain()
    engine = shop.engine()
    engine.interval_s = 0.05
    stop = threading.Event()
    loop = threading.Thread(target=engine.run_forever, args=(stop,))
    loop.start()
    try:
        time.sleep(0.2)
        assert shop.email.sent == []
        shop.clock.advance(1.01)
        deadline = time.monotonic() + 15
        while not shop.email.sent and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join()
    assert len(shop.email.sent) == 1
