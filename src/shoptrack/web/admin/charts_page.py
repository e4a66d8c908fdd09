"""Charts: events per type per day, visitors, carts, orders, revenue and the funnel of a period.

The period is ``?days=N`` (the last N UTC days, today included; 30 by default) or
``?from=YYYY-MM-DD&to=YYYY-MM-DD``; ``?bots=show`` adds the bots' own charts below (they are
left out of every figure either way). Every number is read from the ``analytics`` tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from shoptrack.analytics.days import today
from shoptrack.analytics.queries import DailySeries, Funnel, daily_series, funnel
from shoptrack.web.admin.charts import bar_chart, line_chart
from shoptrack.web.admin.pages import SitePage, render

router = APIRouter()
DEFAULT_DAYS = 30
MOST_DAYS = 366
QUICK_PERIODS = (7, 30, 90)
MOST_LINES = 6


@dataclass(frozen=True, slots=True)
class Period:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


class PeriodError(ValueError):
    pass


def parse_period(params: dict[str, str], now: date) -> Period:
    """The period the query names, or ``PeriodError`` saying what is wrong with it."""
    first_text, last_text = params.get("from", "").strip(), params.get("to", "").strip()
    if first_text or last_text:
        try:
            first = date.fromisoformat(first_text) if first_text else now
            last = date.fromisoformat(last_text) if last_text else now
        except ValueError:
            raise PeriodError("Dates are written YYYY-MM-DD, e.g. 2026-12-01.") from None
        if last < first:
            raise PeriodError("The period ends before it starts.")
        if (last - first).days + 1 > MOST_DAYS:
            raise PeriodError(f"A period is at most {MOST_DAYS} days.")
        return Period(first, last)
    days_text = params.get("days", "").strip() or str(DEFAULT_DAYS)
    if not days_text.isdigit() or not 1 <= int(days_text) <= MOST_DAYS:
        raise PeriodError(f"The number of days is a whole number from 1 to {MOST_DAYS}.")
    return Period(now - timedelta(days=int(days_text) - 1), now)


@dataclass(frozen=True, slots=True)
class Figures:
    series: DailySeries
    funnel: Funnel


def _read(engine: Engine, site_id: str, period: Period, bots: bool) -> tuple[Figures, Figures]:
    with engine.connect() as conn:
        human = Figures(
            daily_series(conn, site_id, period.first, period.last),
            funnel(conn, site_id, period.first, period.last),
        )
        # The bots' daily counts are a few rows: read always, for the "left out" line.
        bot_series = daily_series(conn, site_id, period.first, period.last, bot=True)
        bot_funnel = (
            funnel(conn, site_id, period.first, period.last, bot=True)
            if bots
            else Funnel(0, 0, 0, 0)
        )
    return human, Figures(bot_series, bot_funnel)


def _rate(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} % of visitors" if whole else ""


def busiest_types(events: dict[str, list[int]], shown: int = MOST_LINES) -> dict[str, list[int]]:
    """The ``shown - 1`` types with the most events, and the rest summed as "Other types": a
    dozen lines in one chart cannot be read at a glance (the table below has them all)."""
    if len(events) <= shown:
        return dict(sorted(events.items(), key=lambda item: -sum(item[1])))
    ranked = sorted(events.items(), key=lambda item: (-sum(item[1]), item[0]))
    kept = dict(ranked[: shown - 1])
    rest = [sum(day) for day in zip(*(values for _, values in ranked[shown - 1 :]), strict=True)]
    return {**kept, "Other types": rest}


def charts_of(figures: Figures, who: str) -> dict[str, Markup]:
    s, f = figures.series, figures.funnel
    return {
        "events": line_chart(
            s.days, busiest_types(s.events), title=f"{who}: events per type per day"
        ),
        "visitors": line_chart(
            s.days, {"Unique visitors": s.visitors}, title=f"{who}: unique visitors per day"
        ),
        "orders": line_chart(
            s.days,
            {"Carts (StatusCart events)": s.carts, "Orders": s.orders},
            title=f"{who}: carts and orders per day",
        ),
        "revenue": line_chart(
            s.days,
            {"Revenue": s.revenue},
            title=f"{who}: revenue per day (order lines' price × quantity)",
        ),
        "funnel": bar_chart(
            ["Visitors", "Viewed a product", "Put in the cart", "Bought"],
            [f.visitors, f.viewed, f.carted, f.bought],
            title=f"{who}: funnel, distinct visitors of the period",
            notes=[
                "",
                _rate(f.viewed, f.visitors),
                _rate(f.carted, f.visitors),
                _rate(f.bought, f.visitors),
            ],
        ),
    }


@router.get("/admin/sites/{site_id}/charts", name="admin_charts")
async def charts(request: Request, ctx: SitePage) -> HTMLResponse:
    params = dict(request.query_params)
    show_bots = params.get("bots") == "show"
    now = today()
    try:
        period = parse_period(params, now)
    except PeriodError as error:
        fallback = Period(now - timedelta(days=DEFAULT_DAYS - 1), now)
        context = {"error": str(error), "period": fallback, "show_bots": show_bots,
                   "quick": QUICK_PERIODS, "current_days": None}  # fmt: skip
        return render(request, ctx, "charts/charts.html", context, status_code=400)
    human, bots = await run_in_threadpool(
        _read, ctx.services.engine, ctx.site_id, period, show_bots
    )
    context = {
        "error": None,
        "period": period,
        "show_bots": show_bots,
        "quick": QUICK_PERIODS,
        # The quick link of the period shown, when it is one ("the last N days").
        "current_days": None if "from" in params or "to" in params else period.days,
        "human": human,
        "bots": bots,
        "charts": charts_of(human, "People"),
        "bot_charts": charts_of(bots, "Bots") if show_bots else None,
        "bot_events": bots.series.total_events,
    }
    return render(request, ctx, "charts/charts.html", context)
