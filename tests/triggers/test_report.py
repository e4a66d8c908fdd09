"""The trigger report: messages sent by the engine, clicks and orders through the collector.

Messages are decided and sent by the real engine (the ``Recorder`` delivery) on a moved
clock; the visits carry the message's link as the deliveries write it (``tracked_link``),
the ``trigger_reports`` processor follows the log, and the numbers come out of
``GET /api/v1/reports/triggers`` and ``shoptrack reports triggers``, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from typer.testing import CliRunner

from shoptrack.cli.main import app
from shoptrack.processing.rebuild import rebuild
from shoptrack.store.tables import (
    trigger_report_daily,
    trigger_report_messages,
    trigger_report_visits,
)
from shoptrack.triggers.links import tracked_link
from shoptrack.triggers.model import OutgoingMessage
from tests.support.payloads import browser_event, webevent_body
from tests.triggers.conftest import FIREFOX, GOOGLEBOT, Shop

DAY_MS = 86_400_000


def utc_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


def link(message: OutgoingMessage, key: str = "p1") -> str:
    """The product link the message's delivery sends (``sc_content`` and UTM parameters)."""
    url = tracked_link(
        f"https://shop.example/p/{key}", message.rule, message.message_id, message.channel
    )
    assert url is not None and "sc_content=t_" in url
    return url


def visit(shop: Shop, visitor: str, url: str, key: str = "p1", agent: str = FIREFOX) -> None:
    """A product page reached through ``url``: the page's own URL carries the message's id."""
    event = browser_event("ProductPage", {"ProductPage": {"productKey": key, "price": "10"}})
    body = webevent_body(
        shop.site_id,
        event,
        visitor_id=visitor,
        session_id=f"s-{visitor}",
        page={"url": url, "referrer": None, "title": key},
    )
    headers = {"User-Agent": agent, "Content-Type": "text/plain"}
    response = shop.client.post("/webevent", content=orjson.dumps(body), headers=headers)
    assert response.status_code == 200, response.text


def rest(
    shop: Shop, name: str, section: dict[str, Any], visitor: str, at: int, **info: Any
) -> None:
    """A server-side event at a given time (the REST API takes the shop's time)."""
    general = {"eventName": name, "datetime": at, "cookies": {"sc": visitor}, **info}
    body = {"GeneralInfo": general, **section}
    response = shop.client.post("/api/v2", content=orjson.dumps(body), headers=shop.headers)
    assert response.status_code == 200, response.text


def report(shop: Shop, **params: str) -> dict[str, Any]:
    response = shop.client.get("/api/v1/reports/triggers", params=params, headers=shop.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def cells(result: dict[str, Any]) -> dict[tuple[str, str], tuple[int, int, int, float]]:
    return {
        (d["day"], d["rule"]): (d["sent"], d["clicked"], d["orders"], d["revenue"])
        for d in result["days"]
    }


def around(ms: int) -> dict[str, str]:
    day = date.fromisoformat(utc_day(ms))
    return {
        "from": (day - timedelta(days=1)).isoformat(),
        "to": (day + timedelta(days=1)).isoformat(),
    }


def cart_message(shop: Shop, visitor: str, email: str, *keys: str) -> OutgoingMessage:
    """An abandoned cart message decided and sent by the engine an hour after the cart."""
    shop.identify(visitor, user_email=email)
    shop.cart(visitor, *keys, guid=f"g-{visitor}")
    shop.drain()
    shop.clock.advance(61)
    before = len(shop.email.sent)
    shop.engine().tick()
    assert len(shop.email.sent) == before + 1, shop.messages()
    return shop.email.sent[-1][0]


def test_a_click_and_the_order_after_it_count_for_the_message(shop: Shop) -> None:
    shop.configure("abandoned_cart", enabled=True, delay_seconds=3600)
    message = cart_message(shop, "v1", "anna@example.com", "p1", "p2")
    sent_day = utc_day(shop.clock.now)
    key = (sent_day, "abandoned_cart")
    shop.drain()
    assert cells(report(shop, **around(shop.clock.now))) == {key: (1, 0, 0, 0.0)}
    # Two visits through the link, and a page after them carrying the remembered sc_content:
    # one message clicked, once.
    visit(shop, "v1", link(message, "p1"))
    visit(shop, "v1", link(message, "p2"), key="p2")
    shop.send(
        "v1",
        browser_event("ProductPage", {"ProductPage": {"productKey": "p3"}}),
    )
    shop.drain()
    assert cells(report(shop, **around(shop.clock.now))) == {key: (1, 1, 0, 0.0)}
    shop.buy("v1", "p1", "p2", guid="g-v1", order="o1")
    shop.drain()
    result = report(shop, **around(shop.clock.now))
    [row] = result["days"]
    assert (row["sent"], row["clicked"], row["orders"], row["revenue"]) == (1, 1, 1, 20.0)
    assert (row["click_rate"], row["conversion"], row["revenue_per_message"]) == (1.0, 1.0, 20.0)
    [totals] = result["totals"]
    assert totals == {k: v for k, v in row.items() if k != "day"}
    assert result["total"] == {k: v for k, v in row.items() if k not in ("day", "rule")}
    # A second order is not the message's again: each message converts once.
    shop.buy("v1", "p1", guid=None, order="o2")
    shop.drain()
    assert cells(report(shop, **around(shop.clock.now))) == {key: (1, 1, 1, 20.0)}
    # Replaying the log gives the same numbers.
    services = shop.services
    rebuild(services.engine, services.settings)
    assert cells(report(shop, **around(shop.clock.now))) == {key: (1, 1, 1, 20.0)}
    # Ids and counts only: nothing of the person in the report's rows.
    with services.engine.connect() as conn:
        stored = [
            tuple(r)
            for table in (trigger_report_daily, trigger_report_messages, trigger_report_visits)
            for r in conn.execute(select(table))
        ]
    assert stored and "anna" not in repr(stored)


def test_each_rule_gets_its_own_clicks_and_a_bot_counts_nowhere(shop: Shop) -> None:
    shop.configure("abandoned_cart", enabled=True, delay_seconds=3600)
    shop.configure("abandoned_browse", enabled=True, delay_seconds=3600)
    shop.identify("carter", user_email="carter@example.com")
    shop.cart("carter", "p1", guid="gc")
    shop.identify("browser", user_email="bob@example.com")
    shop.view("browser", "p7")
    shop.drain()
    shop.clock.advance(61)
    shop.engine().tick()
    by_rule = {m.rule.value: m for m, _ in shop.email.sent}
    assert sorted(by_rule) == ["abandoned_browse", "abandoned_cart"]
    day = utc_day(shop.clock.now)
    # A crawler following the cart message's link: no click, and its order is nobody's.
    visit(shop, "crawler", link(by_rule["abandoned_cart"]), agent=GOOGLEBOT)
    shop.send(
        "crawler",
        browser_event(
            "PurchasedItems",
            {
                "PurchasedItems": [{"productKey": "p1", "price": "10", "quantity": 1}],
                "OrderNumber": "oc",
            },
        ),
        agent=GOOGLEBOT,
    )
    # The browse message's reader clicks it and buys.
    visit(shop, "browser", link(by_rule["abandoned_browse"], "p7"), key="p7")
    shop.buy("browser", "p7", guid=None, order="ob")
    shop.drain()
    result = report(shop, **around(shop.clock.now))
    assert cells(result) == {
        (day, "abandoned_browse"): (1, 1, 1, 10.0),
        (day, "abandoned_cart"): (1, 0, 0, 0.0),
    }
    assert result["total"]["sent"] == 2 and result["total"]["clicked"] == 1
    assert result["total"]["click_rate"] == 0.5
    only = report(shop, rule="abandoned_cart", **around(shop.clock.now))
    assert cells(only) == {(day, "abandoned_cart"): (1, 0, 0, 0.0)}
    # A link naming the message under another rule is not the message's.
    message = by_rule["abandoned_cart"]
    forged = link(message).replace("t_abandoned_cart_", "t_abandoned_browse_")
    visit(shop, "carter", forged)
    shop.drain()
    assert cells(report(shop, **around(shop.clock.now)))[(day, "abandoned_cart")][1] == 0


def test_clicks_and_orders_count_on_the_day_the_message_was_sent(shop: Shop) -> None:
    shop.configure("abandoned_cart", enabled=True, delay_seconds=3600)
    shop.identify("v1", user_email="anna@example.com")
    shop.cart("v1", "p1", guid="g1")
    shop.drain()
    # The first message goes out a minute before a UTC midnight, the second a minute after.
    midnight = (shop.clock.now + 61 * 60_000) // DAY_MS * DAY_MS + DAY_MS
    shop.clock.now = midnight - 60_000
    shop.engine().tick()
    [(first, _)] = shop.email.sent
    shop.identify("v2", user_email="bea@example.com")
    shop.cart("v2", "p2", guid="g2")
    shop.drain()
    shop.clock.now = midnight + 60_000
    shop.engine().tick()
    assert len(shop.email.sent) == 2
    before, after = utc_day(midnight - 1), utc_day(midnight)
    # The first message's click and order come later; they are its day's.
    visit(shop, "v1", link(first))
    shop.buy("v1", "p1", guid="g1", order="o1")
    shop.drain()
    both = {"from": before, "to": after}
    assert cells(report(shop, **both)) == {
        (before, "abandoned_cart"): (1, 1, 1, 10.0),
        (after, "abandoned_cart"): (1, 0, 0, 0.0),
    }
    assert cells(report(shop, **{"from": after, "to": after})) == {
        (after, "abandoned_cart"): (1, 0, 0, 0.0)
    }
    # A full ISO time is cut to its UTC day, as in the block reports.
    assert cells(report(shop, **{"from": f"{before}T23:00:00Z", "to": f"{before}T23:59:59Z"})) == {
        (before, "abandoned_cart"): (1, 1, 1, 10.0)
    }


def test_an_order_counts_within_the_window_by_the_visitor_or_the_contact(shop: Shop) -> None:
    shop.configure("abandoned_cart", enabled=True, delay_seconds=3600)
    message = cart_message(shop, "v1", "anna@example.com", "p1")
    day = utc_day(shop.clock.now)
    now = int(datetime.now(tz=UTC).timestamp() * 1000)
    # Clicked eight days before the order: outside the 7-day window.
    rest(
        shop,
        "ProductPage",
        {"ProductPage": {"productKey": "p1"}},
        "v1",
        now - 9 * DAY_MS,
        pageUrl=link(message),
    )
    rest(
        shop,
        "PurchasedItems",
        {
            "PurchasedItems": [{"productKey": "p1", "price": 30, "quantity": 1}],
            "OrderNumber": "late",
        },
        "v1",
        now - DAY_MS,
    )
    shop.drain()
    assert cells(report(shop, **around(shop.clock.now))) == {
        (day, "abandoned_cart"): (1, 1, 0, 0.0)
    }
    # Clicked again; the order comes from the contact's other device.
    rest(
        shop,
        "ProductPage",
        {"ProductPage": {"productKey": "p1"}},
        "v1",
        now - 60_000,
        pageUrl=link(message),
    )
    shop.identify("v1-phone", user_email="anna@example.com")
    shop.drain()
    rest(
        shop,
        "PurchasedItems",
        {"PurchasedItems": [{"productKey": "p1", "price": 30, "quantity": 2}], "OrderNumber": "o2"},
        "v1-phone",
        now,
    )
    shop.drain()
    assert cells(report(shop, **around(shop.clock.now))) == {
        (day, "abandoned_cart"): (1, 1, 1, 60.0)
    }


def test_bad_parameters_are_refused_naming_the_field(shop: Shop) -> None:
    for params, field in (
        ({"from": "2026-13-01"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-11-03", "to": "2026-11-02"}, "from"),
        ({"from": "2010-01-01", "to": "2026-11-02"}, "from"),
        ({"rule": "birthday"}, "rule"),
    ):
        response = shop.client.get("/api/v1/reports/triggers", params=params, headers=shop.headers)
        assert response.status_code == 400, params
        assert response.json()["error"]["field"] == field, response.text
    assert shop.client.get("/api/v1/reports/triggers").status_code == 401
    empty = report(shop)
    assert empty["days"] == [] and empty["totals"] == []
    assert empty["total"] == {
        "sent": 0,
        "clicked": 0,
        "orders": 0,
        "revenue": 0.0,
        "click_rate": None,
        "conversion": None,
        "revenue_per_message": None,
    }
    assert report(shop, **{"from": "0001-01-01", "to": "0001-01-05"})["days"] == []
    assert report(shop, **{"to": "0001-01-05"})["from"] == "0001-01-01"
    assert report(shop, **{"from": "9999-12-30", "to": "9999-12-31"})["days"] == []


def test_the_cli_prints_the_report_as_a_table(shop: Shop) -> None:
    shop.configure("abandoned_cart", enabled=True, delay_seconds=3600)
    message = cart_message(shop, "v1", "anna@example.com", "p1")
    visit(shop, "v1", link(message))
    shop.drain()
    day = utc_day(shop.clock.now)
    db = ["--database-url", shop.services.settings.database_url]
    out = CliRunner(env={"COLUMNS": "160"}).invoke(
        app, ["reports", "triggers", shop.site_id, "--from", day, "--to", day, *db]
    )
    assert out.exit_code == 0, out.output
    assert "abandoned_cart" in out.stdout and "100.0%" in out.stdout and "every rule" in out.stdout
    as_json = CliRunner().invoke(
        app, ["reports", "triggers", shop.site_id, "--from", day, "--to", day, "--json", *db]
    )
    assert orjson.loads(as_json.stdout)["total"]["clicked"] == 1
    bad = CliRunner().invoke(app, ["reports", "triggers", shop.site_id, "--rule", "birthday", *db])
    assert bad.exit_code == 2
    missing = CliRunner().invoke(app, ["reports", "triggers", "no-such-site", *db])
    assert missing.exit_code == 1


def test_an_erasure_keeps_the_numbers_and_leaves_no_id_of_the_person(shop: Shop) -> None:
    shop.configure("abandoned_cart", enabled=True, delay_seconds=3600)
    message = cart_message(shop, "v1", "anna@example.com", "p1")
    visit(shop, "v1", link(message))
    shop.buy("v1", "p1", guid="g-v1", order="o1")
    shop.drain()
    numbers = cells(report(shop, **around(shop.clock.now)))
    assert list(numbers.values()) == [(1, 1, 1, 10.0)]
    [row] = shop.messages()
    with shop.services.engine.connect() as conn:
        before = {(v.subject, v.subject_id) for v in conn.execute(select(trigger_report_visits))}
    assert before == {("visitor", "v1"), ("contact", row.contact_id)}
    erased = shop.client.delete(f"/api/v1/contacts/{row.contact_id}", headers=shop.headers)
    assert erased.status_code == 200, erased.text
    assert erased.json()["trigger_report_visits_deleted"] == 2
    assert cells(report(shop, **around(shop.clock.now))) == numbers
    with shop.services.engine.connect() as conn:
        assert conn.execute(select(trigger_report_visits)).all() == []
    # A replay of the rewritten log gives the same numbers, under the new ids only.
    rebuild(shop.services.engine, shop.services.settings)
    assert cells(report(shop, **around(shop.clock.now))) == numbers
    with shop.services.engine.connect() as conn:
        replayed = {v.subject_id for v in conn.execute(select(trigger_report_visits))}
    assert replayed and not replayed & {"v1", row.contact_id}
