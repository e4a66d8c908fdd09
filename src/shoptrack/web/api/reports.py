"""``GET /api/v1/reports/blocks``: the recommendation blocks' funnel per day and variant."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from shoptrack.errors import Reason, ShoptrackError
from shoptrack.reports.queries import block_report
from shoptrack.web.api.routing import KeyFirstRoute
from shoptrack.web.auth import require_site
from shoptrack.web.responses import json_response

router = APIRouter(prefix="/api/v1", tags=["reports"], route_class=KeyFirstRoute)
SiteId = Annotated[str, Depends(require_site)]
DEFAULT_DAYS = 30
MAX_DAYS = 3660
MAX_BLOCK_ID = 10**18 - 1  # event container ids carry at most 18 digits (reports/ids.py)


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
    from_: Annotated[
        str | None, Query(alias="from", description="first day, YYYY-MM-DD (default: 29 days ago)")
    ] = None,
    to: Annotated[
        str | None, Query(description="last day, YYYY-MM-DD (default: today, UTC)")
    ] = None,
    block_id: Annotated[int | None, Query(ge=0, le=MAX_BLOCK_ID, description="one block")] = None,
) -> Response:
    today = datetime.now(tz=UTC).date()
    last = parse_day(to, "to", today)
    first = parse_day(from_, "from", last - timedelta(days=DEFAULT_DAYS - 1))
    if first > last:
        raise ShoptrackError(Reason.INVALID_VALUE, "from: must not be after to", "from")
    if (last - first).days >= MAX_DAYS:
        raise ShoptrackError(
            Reason.INVALID_VALUE, f"from: at most {MAX_DAYS} days per report", "from"
        )
    engine = request.app.state.services.engine
    report = await run_in_threadpool(block_report, engine, site_id, first, last, block_id)
    return json_response(report)
