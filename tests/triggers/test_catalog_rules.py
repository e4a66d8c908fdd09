"""wishlist, price_drop and back_in_stock: a catalogue change (feed import, ProductUpdate)
wakes the contacts who watch the product; each change is sent once, after ``delay``."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import insert
from typer.testing import CliRunner

from shoptrack.cli.main import app
from shoptrack.store.tables import trigger_unsubscribes
from shoptrack.triggers.decide import preview
from shoptrack.triggers.model import Rule
from tests.triggers.catalog_changes import CatalogShop, catalog_shop_fixture  # noqa: F401
from tests.triggers.conftest import GOOGLEBOT

IN, OUT = "in stock", "out of stock"


def content(row: Any) -> Any:
    return orjson.loads(row.content)


def verdicts(shop: CatalogShop, email: str) -> dict[str, dict[str, Any]]:
    services = shop.services
    found = preview(
        services.engine,
        services.keyring,
        shop.site_id,
        shop.contact_id(email),
        shop.clock(),
        services.settings.triggers_daily_cap,
    )
    return {v["rule"]: v for v in found}


def test_price_drop_sends_once_after_the_drop_not_before(catalog_shop: CatalogShop) -> None:
    shop = catalog_shop
    shop.import_feed(p1=("100.00 USD", IN), p2=("50.00 USD", IN))
    shop.configure("price_drop", enabled=True, delay_seconds=60)
    shop.identify("v1", user_email="anna@example.com")
    shop.view_product("v1", "p1", "100")
    shop.view_product("v1", "p2", "50")
    shop.drain()
    engine = shop.engine()
    engine.tick()  # nothing changed: nothing woken
    assert shop.messages() == [] and shop.candidates() == []
    why = verdicts(shop, "anna@example.com")["price_drop"]
    assert why["would_send"] is False
    assert why["reason"] == "no viewed product changed enough since"
    assert {c["product_id"] for c in why["extra"]["checked"]} == {"p1", "p2"}

    shop.update("p1", "80.00 USD")
    engine.tick()  # woken, but the change is younger than the delay
    assert shop.messages() == []
    [candidate] = shop.candidates()
    assert (candidate.rule, candidate.state) == ("price_drop", "open")
    early = verdicts(shop, "anna@example.com")["price_drop"]
    assert (early["would_send"], early["reason"]) == (False, "not due yet")
    assert [(p["product_id"], p["price_then"], p["price"]) for p in early["products"]] == [
        ("p1", 100.0, 80.0)
    ]

    shop.clock.advance(2)
    engine.tick()
    [row] = shop.messages()
    assert (row.rule, row.status) == ("price_drop", "sent")
    assert row.episode_key.startswith("c:") and row.episode_key.endswith(":p1")
    [(message, _)] = shop.email.sent
    assert message.rule is Rule.PRICE_DROP and message.email == "anna@example.com"
    assert [(p.product_id, p.price_then, p.price) for p in message.products] == [
        ("p1", 100.0, 80.0)
    ]
    assert content(row)["products"][0]["change"] == "price_drop"

    # The same change is never sent again: more rounds, the same price again, a preview.
    shop.update("p1", "80.00 USD")
    shop.clock.advance(120)
    engine.tick()
    engine.tick()
    assert len(shop.messages()) == 1 and len(shop.email.sent) == 1
    after = verdicts(shop, "anna@example.com")["price_drop"]
    assert after["reason"] == "already sent: every change was in an earlier message"


def test_a_drop_below_the_threshold_sends_nothing(catalog_shop: CatalogShop) -> None:
    shop = catalog_shop
    shop.import_feed(p1=("100.00 USD", IN))
    shop.configure(
        "price_drop", enabled=True, delay_seconds=60, thresholds={"min_drop_percent": 10}
    )
    shop.identify("v1", user_email="anna@example.com")
    shop.view_product("v1", "p1", "100")
    shop.drain()
    engine = shop.engine()
    shop.update("p1", "95.00 USD")  # 5 %: enough by default, not with 10
    shop.clock.advance(5)
    engine.tick()
    assert shop.messages() == [] and shop.email.sent == []
    [checked] = verdicts(shop, "anna@example.com")["price_drop"]["extra"]["checked"]
    assert checked == {"product_id": "p1", "why_not": "100 then, 95 now (5.0 % off, 10 % needed)"}
    shop.update("p1", "89.00 USD")
    shop.clock.advance(5)
    engine.tick()
    [row] = shop.messages()
    assert (row.status, content(row)["products"][0]["price"]) == ("sent", 89.0)


def test_back_in_stock_after_a_view_while_out_of_stock(catalog_shop: CatalogShop) -> None:
    shop = catalog_shop
    shop.import_feed(p1=("20.00 USD", OUT), p2=("30.00 USD", OUT))
    shop.configure("back_in_stock", enabled=True, delay_seconds=60)
    shop.identify("v1", user_email="anna@example.com")
    shop.view_product("v1", "p1", "20", in_stock=False)
    shop.identify("v2", user_email="bob@example.com")
    shop.view_product("v2", "p2", "30", in_stock=False)
    shop.view_product("v2", "p2", "30", in_stock=True)  # seen in stock later: nothing to wait for
    shop.drain()
    assert [(w.visitor_id, w.product_key) for w in shop.watches()] == [("v1", "p1")]
    engine = shop.engine()
    engine.tick()
    assert shop.messages() == []
    # The feed says both are back (the import's switch is the change).
    shop.import_feed(p1=("20.00 USD", IN), p2=("30.00 USD", IN))
    engine.tick()
    assert shop.messages() == []  # not before the delay
    shop.clock.advance(2)
    engine.tick()
    engine.tick()
    [row] = shop.messages()
    assert (row.rule, row.status) == ("back_in_stock", "sent")
    [(message, _)] = shop.email.sent
    assert message.email == "anna@example.com"
    assert [p.product_id for p in message.products] == ["p1"]
    assert content(row)["products"][0]["change"] == "back_in_stock"


def test_wishlist_price_drop_by_import_and_back_in_stock_by_update(
    catalog_shop: CatalogShop,
) -> None:
    shop = catalog_shop
    shop.import_feed(w1=("200.00 USD", IN), w2=("40.00 USD", OUT), other=("10.00 USD", IN))
    shop.configure("wishlist", enabled=True, delay_seconds=60, cap_days=0)
    shop.identify("v1", user_email="anna@example.com")
    shop.wishlist("v1", "w1", "200")
    shop.view_product("v1", "other", "10")  # a view is no wishlisting
    shop.drain()
    engine = shop.engine()
    shop.import_feed(w1=("150.00 USD", IN), w2=("40.00 USD", OUT), other=("5.00 USD", IN))
    shop.clock.advance(2)
    engine.tick()
    [row] = shop.messages()
    assert (row.rule, row.status) == ("wishlist", "sent")
    [(message, _)] = shop.email.sent
    assert [(p.product_id, p.price_then, p.price) for p in message.products] == [
        ("w1", 200.0, 150.0)
    ]
    assert message.products[0].name == "Product w1" and message.products[0].url

    shop.wishlist("v1", "w2", "40", in_stock=False)
    shop.drain()
    shop.update("w2", "40.00 USD", in_stock=True)
    shop.clock.advance(2)
    engine.tick()
    rows = shop.messages()
    assert [(r.rule, r.status) for r in rows] == [("wishlist", "sent"), ("wishlist", "sent")]
    assert [(p["product_id"], p["change"]) for p in content(rows[1])["products"]] == [
        ("w2", "back_in_stock")
    ]
    assert len(shop.email.sent) == 2


def test_bots_and_anonymous_visitors_get_nothing(catalog_shop: CatalogShop) -> None:
    shop = catalog_shop
    shop.import_feed(p1=("100.00 USD", IN))
    shop.configure("price_drop", enabled=True, delay_seconds=60)
    shop.identify("crawler", agent=GOOGLEBOT, user_email="bot@example.com")
    shop.view_product("crawler", "p1", "100", agent=GOOGLEBOT)
    shop.view_product("stranger", "p1", "100")
    shop.drain()
    assert [w.visitor_id for w in shop.watches()] == ["stranger"]  # a bot watches nothing
    engine = shop.engine()
    shop.update("p1", "50.00 USD")
    shop.clock.advance(2)
    engine.tick()
    assert shop.messages() == [] and shop.email.sent == []
    [candidate] = shop.candidates()
    assert candidate.visitor_id == "stranger" and candidate.state == "done"
    assert candidate.reason.startswith("anonymous")


def test_unsubscribed_and_no_address_are_suppressed(catalog_shop: CatalogShop) -> None:
    shop = catalog_shop
    shop.import_feed(p1=("100.00 USD", IN))
    shop.configure("price_drop", enabled=True, delay_seconds=60)
    shop.identify("gone", user_email="gone@example.com")
    shop.view_product("gone", "p1", "100")
    shop.identify("no-mail", externalCustomerId="C-1")
    shop.view_product("no-mail", "p1", "100")
    shop.drain()
    with shop.services.engine.begin() as conn:
        conn.execute(
            insert(trigger_unsubscribes).values(
                site_id=shop.site_id,
                contact_id=shop.contact_id("gone@example.com"),
                channel="email",
                at=0,
            )
        )
    engine = shop.engine()
    shop.update("p1", "60.00 USD")
    shop.clock.advance(2)
    engine.tick()
    assert sorted((m.status, m.reason) for m in shop.messages()) == [
        ("suppressed", "no e-mail address"),
        ("suppressed", "unsubscribed"),
    ]
    assert shop.email.sent == []


def test_caps_per_rule_and_a_new_drop_after_a_rise(catalog_shop: CatalogShop) -> None:
    shop = catalog_shop
    shop.import_feed(p1=("100.00 USD", IN), p2=("100.00 USD", IN))
    shop.configure("price_drop", enabled=True, delay_seconds=60)
    shop.identify("v1", user_email="anna@example.com")
    shop.view_product("v1", "p1", "100")
    shop.view_product("v1", "p2", "100")
    shop.drain()
    engine = shop.engine()
    shop.update("p1", "80.00 USD")
    shop.clock.advance(2)
    engine.tick()
    shop.update("p2", "80.00 USD")  # another product's change: within the 7-day cap
    shop.clock.advance(2)
    engine.tick()
    assert [(m.status, m.reason) for m in shop.messages()] == [
        ("sent", None),
        ("suppressed", "cap: price_drop already sent to the contact within 7 days"),
    ]
    # Without the cap: the price goes back up, then drops again: a new change, a new message.
    shop.configure("price_drop", cap_days=0)
    shop.update("p1", "100.00 USD")
    engine.tick()
    shop.update("p1", "70.00 USD")
    shop.clock.advance(2)
    engine.tick()
    rows = shop.messages()
    assert [m.status for m in rows] == ["sent", "suppressed", "sent"]
    assert [p["product_id"] for p in content(rows[2])["products"]] == ["p1"]
    assert rows[2].episode_key != rows[0].episode_key
    assert len(shop.email.sent) == 2


def test_a_purchase_of_the_product_cancels(catalog_shop: CatalogShop) -> None:
    shop = catalog_shop
    shop.import_feed(p1=("100.00 USD", IN), p2=("100.00 USD", IN))
    shop.configure("price_drop", enabled=True, delay_seconds=60, cap_days=0)
    shop.identify("v1", user_email="anna@example.com")
    shop.view_product("v1", "p1", "100")
    shop.buy("v1", "p1", guid=None, order="o1")
    shop.drain()
    assert shop.watches() == []  # the order forgets the sighting
    engine = shop.engine()
    shop.update("p1", "50.00 USD")
    shop.clock.advance(2)
    engine.tick()
    assert shop.messages() == []
    assert verdicts(shop, "anna@example.com")["price_drop"]["reason"] == (
        "no product viewed in the last 14 days"
    )
    # Decided, not sent yet (no e-mail delivery in this round), then bought: cancelled.
    shop.view_product("v1", "p2", "100")
    shop.drain()
    shop.update("p2", "50.00 USD")
    shop.clock.advance(2)
    shop.engine(webhook=shop.webhook).tick()
    [row] = shop.messages()
    assert row.status == "pending"
    shop.buy("v1", "p2", guid=None, order="o2")
    shop.drain()
    engine.tick()
    [row] = shop.messages()
    assert (row.status, row.reason) == ("cancelled", "bought after the decision")
    assert shop.email.sent == []


def test_thresholds_are_checked_by_name_and_range(catalog_shop: CatalogShop) -> None:
    shop = catalog_shop
    cases = [
        ("price_drop", {"min_drop_percent": 0}, "thresholds.min_drop_percent"),
        ("price_drop", {"min_drop_percent": "5"}, "thresholds.min_drop_percent"),
        ("price_drop", {"window_days": 1.5}, "thresholds.window_days"),
        ("wishlist", {"window_days": 400}, "thresholds.window_days"),
        ("back_in_stock", {"min_drop_percent": 5}, "thresholds.min_drop_percent"),
        ("abandoned_cart", {"window_days": 3}, "thresholds.window_days"),
        ("price_drop", [1], "thresholds"),
    ]
    for rule, thresholds, field in cases:
        answer = shop.client.patch(
            f"/api/v1/triggers/{rule}", json={"thresholds": thresholds}, headers=shop.headers
        )
        assert answer.status_code == 400, (rule, thresholds, answer.text)
        error = answer.json()["error"]
        assert error["field"] == field, answer.text
        assert error["message"].startswith(field)
    changed = shop.configure("price_drop", thresholds={"min_drop_percent": 12.5, "window_days": 7})
    assert changed["rule"]["thresholds"] == {"min_drop_percent": 12.5, "window_days": 7}
    again = shop.configure("price_drop", thresholds={"window_days": None})
    assert again["rule"]["thresholds"] == {"min_drop_percent": 12.5}
    enabled = shop.configure("wishlist", enabled=True)
    assert enabled["rule"]["enabled"] is True and enabled["rule"]["evaluated"] is True


def test_cli_preview_explains_why_and_why_not(catalog_shop: CatalogShop) -> None:
    shop = catalog_shop
    shop.import_feed(p1=("100.00 USD", IN), p2=("100.00 USD", IN), p3=("10.00 USD", OUT))
    shop.configure("price_drop", enabled=True, delay_seconds=3600)
    shop.configure("back_in_stock", enabled=True)
    shop.identify("v1", user_email="anna@example.com")
    shop.view_product("v1", "p1", "100")
    shop.view_product("v1", "p2", "100")
    shop.drain()
    shop.update("p1", "97.00 USD")  # 3 %: not enough
    shop.update("p2", "80.00 USD")
    db = ["--database-url", shop.services.settings.database_url]
    env = {"SHOPTRACK_KEY_FILE": str(shop.services.settings.key_file)}
    contact = shop.contact_id("anna@example.com")
    out = CliRunner().invoke(app, ["triggers", "preview", shop.site_id, contact, *db], env=env)
    assert out.exit_code == 0, out.output
    found = {v["rule"]: v for v in map(orjson.loads, out.stdout.splitlines())}
    drop = found["price_drop"]
    assert (drop["would_send"], drop["reason"]) == (False, "not due yet")  # an hour after
    assert [(p["product_id"], p["price_then"], p["price"]) for p in drop["products"]] == [
        ("p2", 100.0, 80.0)
    ]
    assert drop["episode_key"].endswith(":p2") and drop["due_at"]
    back = found["back_in_stock"]
    assert (back["would_send"], back["reason"]) == (
        False,
        "no product viewed out of stock in the last 14 days",
    )
    assert found["wishlist"]["reason"] == "the rule is disabled"
    assert shop.messages() == []  # a preview writes nothing
