"""A product's price per day for its chart: changes held until the next, stock changes marked."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from shoptrack.web.admin.catalog_products import CHART_DAYS, daily_prices, price_chart, stock_marks


def change(
    day: str, price: float | None, in_stock: bool | None, was: bool | None
) -> dict[str, Any]:
    at = datetime.fromisoformat(day + "T12:00:00").replace(tzinfo=UTC)
    return {
        "at_ms": int(at.timestamp() * 1000),
        "source": "feed",
        "price": price,
        "old_price": None,
        "currency": "EUR",
        "in_stock": in_stock,
        "old_in_stock": was,
        "ref": None,
    }


HISTORY = [
    change("2026-03-01", 10.0, True, None),
    change("2026-03-03", 9.0, True, True),
    change("2026-03-03", 8.0, False, True),  # the day's last change counts
    change("2026-03-05", 8.0, True, False),
]


def test_each_day_holds_the_last_price_known_up_to_today() -> None:
    days, values = daily_prices(HISTORY, date(2026, 3, 6))
    assert days == [f"2026-03-0{d}" for d in range(1, 7)]
    assert values == [10.0, 10.0, 8.0, 8.0, 8.0, 8.0]
    assert daily_prices([], date(2026, 3, 6)) == ([], [])


def test_a_long_history_is_cut_to_the_chart_span_with_the_price_carried_in() -> None:
    days, values = daily_prices(HISTORY, date(2026, 9, 1))
    assert len(days) == CHART_DAYS and days[-1] == "2026-09-01"
    assert set(values) == {8.0}  # the last change before the span holds through it


def test_the_chart_draws_the_price_and_marks_stock_changes() -> None:
    marks = stock_marks(HISTORY)
    assert [(m.day, m.label) for m in marks] == [
        ("2026-03-03", "out of stock"),
        ("2026-03-05", "back in stock"),
    ]
    chart = str(price_chart(HISTORY, date(2026, 3, 6)))
    assert chart.startswith('<svg class="chart"') and "<polyline" in chart
    assert "2026-03-03: out of stock" in chart and "2026-03-05: back in stock" in chart
    # A single day, or no known price: no chart.
    assert price_chart(HISTORY[:1], date(2026, 3, 1)) is None
    unknown = [change("2026-03-01", None, True, None)]
    assert price_chart(unknown, date(2026, 3, 6)) is None
