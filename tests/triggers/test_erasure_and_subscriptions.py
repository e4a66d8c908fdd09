"""A contact's trigger data goes with its erasure; unsubscribes hold across merges and are
lifted only by the shop (API or CLI)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from shoptrack.cli.main import app
from shoptrack.store.tables import (
    trigger_attempts,
    trigger_candidates,
    trigger_messages,
    trigger_unsubscribes,
    trigger_watches,
)
from shoptrack.triggers.decide import Decider
from shoptrack.triggers.model import Channel
from shoptrack.triggers.unsubscribe import Unsubscribe, record_unsubscribe
from tests.triggers.conftest import Shop


def contact_id(shop: Shop, email: str) -> str:
    response = shop.client.get("/api/v1/contacts", headers=shop.headers)
    return str(next(c["id"] for c in response.json()["contacts"] if c.get("email") == email))


def trigger_rows(shop: Shop) -> str:
    """Every row of every trigger table of the site, as one text to search."""
    texts: list[str] = []
    with shop.services.engine.connect() as conn:
        for table in (trigger_candidates, trigger_messages, trigger_unsubscribes, trigger_watches):
            rows = conn.execute(select(table).where(table.c.site_id == shop.site_id))
            texts += [repr(tuple(r)) for r in rows]
        texts += [repr(tuple(r)) for r in conn.execute(select(trigger_attempts))]
    return "\n".join(texts)


def test_erasure_forgets_the_person_in_every_trigger_table_and_keeps_the_counts(
    shop: Shop,
) -> None:
    shop.configure("abandoned_cart", enabled=True)
    shop.configure("abandoned_browse", enabled=True)
    shop.configure("price_drop", enabled=True)
    shop.identify("dev-a", user_email="erase.me@example.com")
    shop.cart("dev-a", "p1", guid="CART-GUID-1")
    shop.drain()
    shop.clock.advance(61)
    shop.engine().tick()  # the cart's message is sent
    shop.view("dev-a", "p2")
    shop.drain()
    shop.clock.advance(61)
    Decider(shop.services.engine, shop.services.keyring, clock=shop.clock).run_due()
    cid = contact_id(shop, "erase.me@example.com")
    record_unsubscribe(shop.services.engine, Unsubscribe(shop.site_id, cid, Channel.WEBHOOK))
    shop.cart("dev-a", "p3", guid="CART-GUID-2")  # an open episode at erasure time
    shop.drain()
    before = trigger_rows(shop)
    assert cid in before and "dev-a" in before and "CART-GUID-1" in before

    response = shop.client.delete(f"/api/v1/contacts/{cid}", headers=shop.headers)

    assert response.status_code == 200, response.text
    report = response.json()
    assert report["trigger_messages_anonymised"] == 2
    assert report["trigger_unsubscribes_deleted"] == 1
    assert report["trigger_episodes_deleted"] >= 1
    after = trigger_rows(shop)
    for trace in (cid, "dev-a", "CART-GUID", "erase.me", "p1", "p2"):
        assert trace not in after, trace
    statuses = sorted((m.rule, m.status, m.reason) for m in shop.messages())
    assert statuses == [
        ("abandoned_browse", "cancelled", "contact erased"),
        ("abandoned_cart", "sent", None),
    ]
    # Nothing is left to send or decide for the person.
    shop.clock.advance(120)
    shop.engine().tick()
    assert len(shop.email.sent) == 1


def put_subscription(shop: Shop, cid: str, channel: str, body: Any) -> Any:
    return shop.client.put(
        f"/api/v1/contacts/{cid}/subscriptions/{channel}", json=body, headers=shop.headers
    )


def test_an_unsubscribe_holds_after_a_merge_and_only_the_shop_lifts_it(shop: Shop) -> None:
    shop.configure("abandoned_cart", enabled=True, cap_days=0)
    shop.identify("v-old", externalCustomerId="X")
    shop.drain()
    time.sleep(0.01)  # the survivor of a merge is the contact created first
    shop.identify("v-new", user_email="same@example.com")
    shop.drain()
    newer = contact_id(shop, "same@example.com")
    record_unsubscribe(shop.services.engine, Unsubscribe(shop.site_id, newer, Channel.EMAIL))
    # The same person, known by both: the older contact survives, the newer is merged into it.
    shop.identify("v-third", externalCustomerId="X", user_email="same@example.com")
    shop.drain()
    older = contact_id(shop, "same@example.com")
    assert older != newer

    shop.cart("v-new", "p1", guid="g-1")
    shop.drain()
    shop.clock.advance(61)
    shop.engine().tick()
    [message] = shop.messages()
    assert (message.contact_id, message.status, message.reason) == (
        older,
        "suppressed",
        "unsubscribed",
    )

    state = shop.client.get(f"/api/v1/contacts/{newer}/subscriptions", headers=shop.headers)
    assert state.status_code == 200, state.text
    assert state.json()["contact_id"] == older
    assert state.json()["channels"]["email"]["subscribed"] is False
    assert state.json()["channels"]["email"]["unsubscribed_at"].endswith("Z")
    assert state.json()["channels"]["webhook"] == {"subscribed": True, "unsubscribed_at": None}

    lifted = put_subscription(shop, newer, "email", {"subscribed": True})
    assert lifted.status_code == 200, lifted.text
    assert lifted.json()["channels"]["email"]["subscribed"] is True
    shop.cart("v-new", "p2", guid="g-2")
    shop.drain()
    shop.clock.advance(61)
    shop.engine().tick()
    assert [m.status for m in shop.messages()] == ["suppressed", "sent"]
    assert len(shop.email.sent) == 1


def test_subscription_requests_are_checked_and_named(shop: Shop) -> None:
    shop.identify("v1", user_email="anna@example.com")
    shop.drain()
    cid = contact_id(shop, "anna@example.com")
    assert put_subscription(shop, "nobody", "email", {"subscribed": True}).status_code == 404
    bad = put_subscription(shop, cid, "email", {"subscribed": "yes"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "subscribed"
    extra = put_subscription(shop, cid, "email", {"subscribed": False, "when": 1})
    assert extra.status_code == 400 and extra.json()["error"]["field"] == "when"
    assert put_subscription(shop, cid, "sms", {"subscribed": True}).status_code == 400
    off = put_subscription(shop, cid, "webhook", {"subscribed": False})
    assert off.json()["channels"]["webhook"]["subscribed"] is False


def test_the_cli_subscribes_and_unsubscribes(shop: Shop) -> None:
    shop.identify("v1", user_email="anna@example.com")
    shop.drain()
    cid = contact_id(shop, "anna@example.com")
    url = shop.services.settings.database_url
    env = {"SHOPTRACK_KEY_FILE": str(shop.services.settings.key_file)}
    runner = CliRunner()
    off = runner.invoke(
        app,
        ["triggers", "unsubscribe", shop.site_id, cid, "--database-url", url],
        env=env,
    )
    assert off.exit_code == 0, off.output
    assert '"subscribed":false' in off.output
    on = runner.invoke(
        app,
        ["triggers", "subscribe", shop.site_id, cid, "--channel", "email", "--database-url", url],
        env=env,
    )
    assert on.exit_code == 0, on.output
    assert '"email":{"subscribed":true' in on.output
    missing = runner.invoke(
        app, ["triggers", "subscribe", shop.site_id, "nobody", "--database-url", url], env=env
    )
    assert missing.exit_code == 2 and "no contact" in missing.output
