"""``GET /api/v1/reports/blocks``: the recommendation blocks' funnel per day and variant;
``GET /api/v1/reports/triggers``: trigger messages sent, clicked, orders per rule and day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from shoptrack.errors import Reason, ShoptrackError
from shoptrack.reports.queries import block_report
from shoptrack.triggers.model import Rule
from shoptrack.triggers.report_queries import trigger_report
from shoptrack.web.api.routing import KeyFirstRoute
from shoptrack.web.auth import require_site
from shoptrack.web.responses import json_response

router = APIRouter(prefix="/api/v1", tags=["reports"], route_class=KeyFirstRoute)
SiteId = Annotated[str, Depends(require_site)]
DEFAULT_DAYS = 30
MAX_DAYS = 3660
MAX_BLOCK_ID = 10**18 - 1
# Every report's period, as query parameters (read by day_range below).
FromDay = Annotated[
    str | None, Query(alias="from", description="first day, YYYY-MM-DD (default: 29 days ago)")
]
ToDay = Annotated[
    str | None, Query(description="last day, YYYY-MM-DD (default: today, UTC)")
]  # event container ids carry at most 18 digits (reports/ids.py)


def parse_day(value: str | None, field: str, default: date) -> date:
    """``YYYY-MM-DD`` (a full ISO time is cut to its UTC day)."""
    if value is None or value == "":
        return default
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ShoptrackError(
            Reason.INVALID_VALUE, f"{field}: expected a day as YYYY-MM-DD", field
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


@router.get(
    "/reports/blocks",
    summary="Impressions, clicks, CTR, add-to-carts, purchases, conversion, items, revenue "
    "and AOV per recommendation block, variant and UTC day",
    description="`purchases`, `items` and `revenue` (and the rates from them) are direct: "
    "the order lines whose products the visitor reached from the block (clicked in it, or "
    "added to the cart from it) within the attribution window. `assisted_purchases` and "
    "`assisted_revenue` are session-level: every order the block took part in (a product "
    "from it, a session that came through it, or `Tags.blockId` naming it), with the whole "
    "order's value. Bot traffic is left out unless `SHOPTRACK_INCLUDE_BOTS` is set.",
)
async def blocks_report(
    request: Request,
    site_id: SiteId,
    from_: FromDay = None,
    to: ToDay = None,
    block_id: Annotated[int | None, Query(ge=0, le=MAX_BLOCK_ID, description="one block")] = None,
) -> Response:
    first, last = day_range(from_, to)
    engine = request.app.state.services.engine
    report = await run_in_threadpool(block_report, engine, site_id, first, last, block_id)
    return json_response(report)


@router.get(
    "/reports/triggers",
    summary="Trigger messages sent, clicked, orders and revenue per rule and UTC day of the send",
    description="A row's `day` is the UTC day its messages were sent: clicks and orders that "
    "come later are added to their message's day. `sent`: messages sent that day. `clicked`: "
    "those with at least one visit through their links (`sc_content=t_<rule>_<message_id>`), "
    "each message once. `orders` and `revenue`: an order by the visitor who clicked, or by the "
    "contact the message went to, within the attribution window "
    "(`SHOPTRACK_ATTRIBUTION_WINDOW_DAYS`) after their last click of a message (last click "
    "wins), each message credited with one order at most, with that order's whole value. "
    "`click_rate` = clicked / sent, `conversion` = orders / sent, `revenue_per_message` = "
    "revenue / sent (`null` when nothing was sent). `totals`: per rule over the range; "
    "`total`: every rule. Bot traffic is left out unless `SHOPTRACK_INCLUDE_BOTS` is set.",
)
async def triggers_report(
    request: Request,
    site_id: SiteId,
    from_: FromDay = None,
    to: ToDay = None,
    rule: Annotated[Rule | None, Query(description="one rule (default: every rule)")] = None,
) -> Response:
    first, last = day_range(from_, to)
    engine = request.app.state.services.engine
    chosen = rule.value if rule is not None else None
    report = await run_in_threadpool(trigger_report, engine, site_id, first, last, chosen)
    return json_response(report)


def day_range(from_: str | None, to: str | None, today: date | None = None) -> tuple[date, date]:
    """The report's first and last day (UTC): ``to`` defaults to today, ``from`` to 29 days
    before ``to``; at most ``MAX_DAYS`` days, ``from`` not after ``to``."""
    last = parse_day(to, "to", today or datetime.now(tz=UTC).date())
    earliest = max(date.min.toordinal(), last.toordinal() - (DEFAULT_DAYS - 1))
    first = parse_day(from_, "from", date.fromordinal(earliest))
    if first > last:
        raise ShoptrackError(Reason.INVALID_VALUE, "from: must not be after to", "from")
    if (last - first).days >= MAX_DAYS:
        raise ShoptrackError(
            Reason.INVALID_VALUE, f"from: at most {MAX_DAYS} days per report", "from"
        )
    return first, last
