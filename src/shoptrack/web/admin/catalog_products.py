"""The Catalogue's products: the live catalogue searched and paged, one product's history.

A product's key goes in the query string (``?key=``), not the path: keys are the shop's own
ids and may hold ``/``, ``?`` or ``#``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from markupsafe import Markup
from starlette.responses import Response

from shoptrack.web.admin.charts import Mark, Series, line_chart
from shoptrack.web.admin.display import readable_times
from shoptrack.web.admin.pages import AdminPageError, SitePage, render

router = APIRouter()
PAGE_SIZE = 50
HISTORY_ROWS = 500
CHART_DAYS = 90  # the chart's span at most; the table lists every change read


@router.get("/admin/sites/{site_id}/catalog/products", name="admin_catalog_products")
async def products_page(
    request: Request,
    ctx: SitePage,
    q: str = Query("", max_length=200),
    after: str = Query("", max_length=255),
    limit: int = Query(PAGE_SIZE, ge=1, le=1000),
) -> Response:
    found = await run_in_threadpool(
        lambda: ctx.catalog.queries.products(
            ctx.site_id, q=q.strip() or None, limit=limit, after=after or None
        )
    )
    next_after = found[-1]["key"] if len(found) == limit else None
    context = {
        "products": [readable_times(p) for p in found],
        "q": q,
        "after": after,
        "next_after": next_after,
        "limit": limit,
    }
    return render(request, ctx, "catalog/products.html", context)


@router.get("/admin/sites/{site_id}/catalog/product", name="admin_catalog_product")
async def product_page(
    request: Request, ctx: SitePage, key: str = Query(..., max_length=255)
) -> Response:
    queries = ctx.catalog.queries
    product = await run_in_threadpool(queries.product, ctx.site_id, key, 0)
    if product is None:
        raise AdminPageError(404, "Not found", "The live catalogue has no product with this id.")
    history = await run_in_threadpool(queries.price_history, ctx.site_id, key, HISTORY_ROWS)
    context = {
        "product": readable_times(product),
        "history": list(reversed(history)),  # the table: newest first
        "chart": price_chart(history, date.today()),
    }
    return render(request, ctx, "catalog/product.html", context)


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, UTC).date()


def daily_prices(history: list[dict[str, Any]], today: date) -> tuple[list[str], list[Any]]:
    """The price at the end of each day, from the first change (at most ``CHART_DAYS`` ago)
    to ``today``: a change holds until the next one, so the line is a step of known values."""
    if not history:
        return [], []
    first = max(_day(history[0]["at_ms"]), today - timedelta(days=CHART_DAYS - 1))
    last = max(today, _day(history[-1]["at_ms"]))
    by_day: dict[date, float | None] = {}
    before: float | None = None
    for change in history:  # oldest first: the day's last change wins
        day = _day(change["at_ms"])
        if day < first:
            before = change["price"]
        else:
            by_day[day] = change["price"]
    days, values = [], []
    price = before
    day = first
    while day <= last:
        price = by_day.get(day, price)
        days.append(day.isoformat())
        values.append(price)
        day += timedelta(days=1)
    return days, values


def stock_marks(history: list[dict[str, Any]]) -> list[Mark]:
    """A mark on each day the stock changed (the chart draws the price; stock is yes/no)."""
    marks = []
    for change in history:
        now, before = change["in_stock"], change["old_in_stock"]
        if now is not None and before is not None and now != before:
            label = "back in stock" if now else "out of stock"
            marks.append(Mark(_day(change["at_ms"]).isoformat(), label))
    return marks


def price_chart(history: list[dict[str, Any]], today: date) -> Markup | None:
    """The price per day with the stock changes marked; None with no price or a single day."""
    days, values = daily_prices(history, today)
    known = [v for v in values if v is not None]
    if not known or len(days) < 2:  # one day is a point, not a line: the table says it all
        return None
    # Days before a price was known are drawn at the first known one: the line has no gaps.
    filled, last = [], known[0]
    for value in values:
        last = value if value is not None else last
        filled.append(float(last))
    series = [Series("price", filled)]
    return line_chart(days, series, stock_marks(history), title="Price per day (UTC)")
