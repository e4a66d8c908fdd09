"""The Triggers pages: rules edited by form, messages by rule and state, attempts, retry."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shoptrack.config import Settings
from shoptrack.services import Services
from shoptrack.triggers.model import Outcome, Rule
from shoptrack.triggers.rules import RuleSettings, read_rules
from tests.support.admin import AdminClient, admin_client_for
from tests.triggers.conftest import Clock, Shop, make_settings


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    # As the trigger tests run the engine: processors drained by hand, a clock of their own.
    return make_settings(database_url, tmp_path)


@pytest.fixture
def shop(client: TestClient, site: tuple[str, str]) -> Shop:
    services: Services = client.app.state.services
    clock = Clock()
    services.clock = clock  # the pages' "today" is the engine's
    return Shop(client, services, site[0], site[1], clock)


def page(admin: AdminClient, path: str, status: int = 200) -> str:
    answer = admin.get(path)
    assert answer.status_code == status, answer.text
    return html.unescape(answer.text)


def base(admin: AdminClient) -> str:
    return f"/admin/sites/{admin.site_id}/triggers"


def rule_settings(shop: Shop, rule: Rule) -> RuleSettings:
    with shop.services.engine.connect() as conn:
        return read_rules(conn, shop.site_id)[rule]


def left_carts(shop: Shop, count: int, outcomes: list[Outcome]) -> None:
    """``count`` abandoned carts decided and sent once, with these delivery outcomes."""
    shop.configure("abandoned_cart", enabled=True)
    for i in range(count):
        shop.identify(f"v{i}", user_email=f"person{i}@example.com")
        shop.cart(f"v{i}", "p1", guid=f"g{i}")
    shop.drain()
    shop.clock.advance(61)
    shop.email.outcomes = list(outcomes)
    shop.engine().tick()


def test_rules_are_listed_with_their_settings_and_last_30_days(
    admin_client: AdminClient, shop: Shop
) -> None:
    left_carts(shop, 2, [Outcome.SENT, Outcome.SENT])
    text = page(admin_client, base(admin_client))
    for rule in Rule:
        assert f'<th scope="row">{rule.value}</th>' in text
        assert f"{base(admin_client)}/rules/{rule.value}" in text
    cart = text.split('<th scope="row">abandoned_cart</th>')[1].split("</tr>")[0]
    assert "<td>on</td>" in cart and "<td>2</td>" in cart  # on; 2 sent in the last 30 days
    wishlist = text.split('<th scope="row">wishlist</th>')[1].split("</tr>")[0]
    assert "<td>off</td>" in wishlist and "window_days 30, min_drop_percent 5" in wishlist


def test_the_last_30_days_end_on_the_day_the_messages_were_sent(
    admin_client: AdminClient, shop: Shop
) -> None:
    # Carts left at 23:30 UTC go at 00:31 the next day (CI once ran this an hour before
    # midnight, and the page, reading another clock, counted the sends of a day not begun).
    day_ms = 86_400_000
    shop.clock.now = (shop.clock.now // day_ms + 2) * day_ms - 30 * 60_000
    left_carts(shop, 2, [Outcome.SENT, Outcome.SENT])
    cart = page(admin_client, base(admin_client)).split('<th scope="row">abandoned_cart</th>')[1]
    assert "<td>2</td>" in cart.split("</tr>")[0]


def test_a_rule_is_edited_by_form(admin_client: AdminClient, shop: Shop) -> None:
    path = f"{base(admin_client)}/rules/price_drop"
    form = page(admin_client, path)
    assert 'name="delay_seconds" type="text" maxlength="32" value="3600"' in form
    assert '<label for="rule-threshold-window_days">' in form
    answer = admin_client.submit(
        path,
        {
            "enabled": "on",
            "channel": "email",
            "delay_seconds": "2h",
            "cap_days": "3",
            "webhook_url": "",
            "template": "",
            "thresholds.window_days": "20",
            "thresholds.min_drop_percent": "",
        },
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"{base(admin_client)}?saved=price_drop"
    stored = rule_settings(shop, Rule.PRICE_DROP)
    assert (stored.enabled, stored.delay_s, stored.cap_days) == (True, 7200, 3)
    assert stored.thresholds == {"window_days": 20}
    assert "Rule price_drop saved." in page(admin_client, answer.headers["location"])


def test_bad_values_are_shown_on_the_form_by_field_and_nothing_is_saved(
    admin_client: AdminClient, shop: Shop
) -> None:
    before = rule_settings(shop, Rule.WISHLIST)
    path = f"{base(admin_client)}/rules/wishlist"
    answer = admin_client.submit(
        path,
        {
            "enabled": "on",
            "channel": "email",
            "delay_seconds": "10s",
            "cap_days": "7",
            "webhook_url": "",
            "template": "",
            "thresholds.window_days": "0",
            "thresholds.min_drop_percent": "5",
        },
    )
    assert answer.status_code == 400
    text = html.unescape(answer.text)
    assert "Nothing was saved: 2 fields to correct." in text
    assert 'id="rule-delay-error">delay_seconds: must be between 60 s and 30 days' in text
    error = 'id="rule-threshold-window_days-error">thresholds.window_days: must be between 1'
    assert error in text
    assert 'value="10s" aria-invalid="true" aria-describedby="rule-delay-error"' in text
    assert rule_settings(shop, Rule.WISHLIST) == before
    # A webhook rule without its address: the address is the field at fault.
    answer = admin_client.submit(
        path, {"enabled": "on", "channel": "webhook", "delay_seconds": "3600", "cap_days": "7"}
    )
    assert answer.status_code == 400
    assert 'id="rule-webhook-error">webhook_url: a rule sent by webhook needs' in html.unescape(
        answer.text
    )
    assert admin_client.get(f"{base(admin_client)}/rules/no_such_rule").status_code == 404


def test_messages_are_filtered_by_rule_and_state_and_paged(
    admin_client: AdminClient, shop: Shop
) -> None:
    left_carts(shop, 3, [Outcome.SENT, Outcome.FAILED, Outcome.SENT])
    messages = f"{base(admin_client)}/messages"
    every = page(admin_client, messages)
    assert every.count("<td>abandoned_cart</td>") == 3
    failed = page(admin_client, f"{messages}?status=failed")
    assert failed.count("<td>abandoned_cart</td>") == 1 and "recorded failed" in failed
    assert "@" not in failed.split("<main")[1].split("</main>")[0]  # ids only, no address
    none = page(admin_client, f"{messages}?rule=wishlist")
    assert "No message with these filters." in none
    first = page(admin_client, f"{messages}?limit=2")
    assert first.count("<td>abandoned_cart</td>") == 2 and "Next page" in first
    cursor = first.split("cursor=")[1].split("&")[0]
    rest = page(admin_client, f"{messages}?limit=2&cursor={cursor}")
    assert rest.count("<td>abandoned_cart</td>") == 1 and "Next page" not in rest
    bad = page(admin_client, f"{messages}?status=lost", status=400)
    assert "id=\"filter-status-error\">status: 'lost' is not one of" in bad


def test_a_failed_message_retried_becomes_pending_with_its_attempts(
    admin_client: AdminClient, shop: Shop
) -> None:
    left_carts(shop, 1, [Outcome.FAILED])
    [row] = shop.messages()
    path = f"{base(admin_client)}/messages/{row.message_id}"
    detail = page(admin_client, path)
    assert "<dd>failed</dd>" in detail and ">Retry</button>" in detail
    contact = f"/admin/sites/{admin_client.site_id}/contacts/{row.contact_id}"
    assert f'<a href="{contact}">{row.contact_id}</a>' in detail  # the person, on purpose
    assert admin_client.get(contact).status_code == 200
    assert '<th scope="row">1</th>' in detail and "<td>failed</td>" in detail
    answer = admin_client.submit(f"{path}/retry")
    assert answer.status_code == 303 and answer.headers["location"] == f"{path}?retried=1"
    detail = page(admin_client, answer.headers["location"])
    assert "<dd>pending</dd>" in detail and "Queued again" in detail
    assert "retried by hand" in detail and ">Retry</button>" not in detail
    assert '<th scope="row">1</th>' in detail  # the first attempt is kept
    [row] = shop.messages()
    assert (row.status, row.attempts) == ("pending", 1)
    # Pending: a second retry is refused on the page, naming why.
    again = admin_client.submit(f"{path}/retry")
    assert again.status_code == 409 and "only a failed message can be retried" in again.text
    shop.engine().tick()
    assert shop.messages()[0].status == "sent"


def test_another_sites_user_gets_404_and_changes_need_the_forms_token(
    client: TestClient, admin_client: AdminClient, shop: Shop
) -> None:
    left_carts(shop, 1, [Outcome.FAILED])
    [row] = shop.messages()
    other_site = shop.services.site_repo.create("Another shop")[0].site_id
    stranger = admin_client_for(client, other_site, "stranger@example.com")
    mine = base(admin_client)
    message = f"{mine}/messages/{row.message_id}"
    for path in (mine, f"{mine}/rules/abandoned_cart", f"{mine}/messages", message):
        assert stranger.get(path).status_code == 404, path
    assert stranger.submit(f"{message}/retry").status_code == 404
    assert stranger.submit(f"{mine}/rules/abandoned_cart", {"cap_days": "1"}).status_code == 404
    # Their own site's page for a message of ours: 404 too (messages are read by site).
    theirs = f"/admin/sites/{other_site}/triggers/messages/{row.message_id}"
    assert stranger.get(theirs).status_code == 404
    assert stranger.submit(f"{theirs}/retry").status_code == 404
    # The site's own user without the form's token: 403, nothing changed.
    forged = admin_client.post(f"{message}/retry", data={})
    assert forged.status_code == 403
    forged = admin_client.post(f"{mine}/rules/abandoned_cart", data={"cap_days": "1"})
    assert forged.status_code == 403
    assert shop.messages()[0].status == "failed"
    assert rule_settings(shop, Rule.ABANDONED_CART).cap_days == 7
