"""The Charts page: a period by GET, bots apart, SVG charts with titles, nothing from the log."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from shoptrack.store.tables import events
from tests.analytics.events import event, process, store
from tests.support.admin import AdminClient

LINE = {"key": "p1", "price": 20.0, "quantity": 2}


def fill(browser: AdminClient) -> Engine:
    """Today and three days ago: one visitor's whole funnel, another's view, a crawler."""
    engine: Engine = browser.app.state.services.engine  # type: ignore[attr-defined]
    site = browser.site_id
    now = int(datetime.now(tz=UTC).timestamp() * 1000)
    before = now - 3 * 86_400_000
    store(
        engine,
        event(site, "PageView", before, "v1"),
        event(site, "ProductPage", before, "v1"),
        event(site, "StatusCart", now, "v1", products=[LINE]),
        event(site, "PurchasedItems", now, "v1", products=[LINE]),
        event(site, "ProductPage", now, "v2"),
        event(site, "PageView", now, "crawler", bot=True),
    )
    process(engine)
    with engine.begin() as conn:
        conn.execute(events.delete())  # the page must not need the log
    return engine


def charts(browser: AdminClient, query: str = "", status: int = 200) -> str:
    page = browser.get(f"/admin/sites/{browser.site_id}/charts{query}")
    assert page.status_code == status, page.text
    return page.text


def test_the_default_period_shows_every_chart_and_the_funnel(admin_client: AdminClient) -> None:
    fill(admin_client)
    text = charts(admin_client)
    assert text.count('<svg class="chart"') == 5
    assert text.count("<title id=") == 5 and text.count("<desc id=") == 5
    assert "People: events per type per day" in text
    # Funnel: 2 visitors, both viewed, 1 carted, 1 bought.
    desc = html.unescape(re.findall(r"<desc id=\"[^\"]+\">([^<]*)</desc>", text)[-1])
    assert desc.startswith("Visitors: 2; Viewed a product: 2 (100.0 % of visitors)")
    assert "Put in the cart: 1 (50.0 % of visitors); Bought: 1 (50.0 % of visitors)." in desc
    assert "<td>40.00</td>" in text  # the revenue of the period
    assert "1 bot events in\n    the period" in text or "1 bot events in" in text
    assert "Bot traffic (left out" not in text
    assert ' style="' not in text and "<script" not in text
    assert 'aria-current="page">30 days' in text


def test_bots_are_shown_apart_on_request(admin_client: AdminClient) -> None:
    fill(admin_client)
    text = charts(admin_client, "?days=7&bots=show")
    assert "Bot traffic (left out of the figures above)" in text
    assert "Bots: events per type per day" in text
    assert 'aria-current="page">7 days' in text
    assert 'name="bots" value="show" checked' in text


def test_a_period_by_dates(admin_client: AdminClient) -> None:
    fill(admin_client)
    today = datetime.now(tz=UTC).date()
    first = (today - timedelta(days=3)).isoformat()
    text = charts(admin_client, f"?from={first}&to={first}")
    assert f"{first} to {first}" in text
    # That day: v1's page view and product view only.
    assert "<td>40.00</td>" not in text
    assert 'aria-current="page"' not in text.split("<main")[1]


def test_a_wrong_period_is_explained(admin_client: AdminClient) -> None:
    assert "YYYY-MM-DD" in charts(admin_client, "?from=yesterday", status=400)
    assert "ends before it starts" in charts(
        admin_client, "?from=2026-12-05&to=2026-12-01", status=400
    )
    assert "at most 366 days" in charts(admin_client, "?from=2020-01-01&to=2026-12-01", status=400)
    assert "from 1 to 366" in charts(admin_client, "?days=0", status=400)
