"""Reading the event log and importing events in bulk."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from shoptrack.collector.limits import may_hold_unstorable
from shoptrack.collector.service import Candidate
from shoptrack.collector.wire import read_rest_event
from shoptrack.errors import Reason, ShoptrackError
from shoptrack.events.model import iso_ms
from shoptrack.events.types import parse_event_type
from shoptrack.identity.crypto import PURPOSE_REJECTED_BODY
from shoptrack.web.api.params import MAX_BIGINT
from shoptrack.web.api.routing import KeyFirstRoute
from shoptrack.web.auth import require_site
from shoptrack.web.openapi import TOO_LARGE, UNAVAILABLE, request_body
from shoptrack.web.responses import batch_response, json_response

router = APIRouter(prefix="/api/v1", tags=["events"], route_class=KeyFirstRoute)
SiteId = Annotated[str, Depends(require_site)]
# Cursors and times are compared with BIGINT columns: larger values are client errors.


def parse_since(value: str | None) -> int | None:
    """``since`` as ISO 8601 (``2026-11-27``, ``2026-11-27T10:00:00Z``) or epoch ms."""
    if value is None or value == "":
        return None
    if value.isascii() and value.isdigit():
        if len(value) > 18:
            raise ShoptrackError(
                Reason.INVALID_VALUE, "since: milliseconds since 1970 out of range", "since"
            )
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ShoptrackError(
            Reason.INVALID_VALUE,
            "since: expected an ISO 8601 time or milliseconds since 1970",
            "since",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@router.get("/events", summary="Events of the site, newest first, in the canonical form")
async def list_events(
    request: Request,
    site_id: SiteId,
    type: Annotated[str | None, Query(description="event type, e.g. ProductPage")] = None,
    visitor_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[str | None, Query(description="ISO 8601 time or epoch ms")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None, Query(ge=0, le=MAX_BIGINT, description="cursor from next_before")
    ] = None,
) -> Response:
    event_type = None
    # An empty filter (``?type=&visitor_id=``, as a filter form sends it) is no filter.
    visitor_id = visitor_id or None
    if type:
        parsed = parse_event_type(type)
        if parsed is None:
            raise ShoptrackError(
                Reason.INVALID_VALUE, f"type: {type[:40]!r} is not an event type", "type"
            )
        event_type = parsed.value
    if visitor_id is not None and "\x00" in visitor_id:
        # No visitor id holds NUL (the collector refuses it), and PostgreSQL cannot compare it.
        raise ShoptrackError(
            Reason.INVALID_VALUE, "visitor_id: must not contain NUL characters", "visitor_id"
        )
    since_ms = parse_since(since)
    rows = await run_in_threadpool(
        request.app.state.services.event_log.query,
        site_id,
        event_type=event_type,
        visitor_id=visitor_id,
        since_ms=since_ms,
        before_seq=before,
        limit=limit,
    )
    # The stored JSON is already canonical: splice it in rather than parse and re-serialize.
    events_json = b",".join(data.encode() for _, data in rows)
    next_before = rows[-1][0] if len(rows) == limit else None
    body = b'{"events":[' + events_json + b'],"next_before":' + orjson.dumps(next_before) + b"}"
    return Response(body, media_type="application/json")


IMPORT_BODY = request_body(
    {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {
                "type": "array",
                "description": "events in the REST format of POST /api/v2, up to 1,000 "
                "(SHOPTRACK_MAX_IMPORT_EVENTS)",
                "items": {
                    "type": "object",
                    "description": "one REST event: GeneralInfo (eventName, datetime, "
                    "cookies.sc, eventId…) and the event's section, e.g. ProductPage",
                    "additionalProperties": True,
                },
            }
        },
    },
    {
        "events": [
            {
                "GeneralInfo": {
                    "eventName": "ProductPage",
                    "datetime": 1795082400000,
                    "cookies": {"sc": "visitor-42"},
                },
                "ProductPage": {"productKey": "24-MB02", "price": "153", "isInStock": 1},
            }
        ]
    },
)


@router.post(
    "/events",
    summary="Import up to 1,000 server-side events at once",
    openapi_extra=IMPORT_BODY,
    responses={**TOO_LARGE, **UNAVAILABLE},
)
async def import_events(request: Request, site_id: SiteId) -> Response:
    services = request.app.state.services
    collector = services.collector
    meta = collector.request_meta(request)
    settings = collector.settings
    try:
        body, raw = await collector.read_json(
            request, settings.max_import_body_bytes, settings.max_import_events
        )
        items = body.get("events") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ShoptrackError(Reason.MISSING_FIELD, "events must be a list of events", "events")
        # (More than max_import_events is refused with 413 by read_json's structure check.)
    except ShoptrackError as error:
        await collector.reject_body(
            error,
            error.kept_body,
            site_id=site_id,
            source="rest",
            endpoint="api/v1/events",
            meta=meta,
        )
        raise
    check_strings = may_hold_unstorable(raw)  # each event is rejected alone for such a string
    candidates: list[Candidate] = [
        read_rest_event(
            item, site_id_from_key=site_id, authenticated=True, check_strings=check_strings
        )
        for item in items
    ]
    outcome = await collector.ingest(candidates, meta, source="rest", endpoint="api/v1/events")
    return batch_response(outcome)


@router.get("/rejected-events", summary="Events that were refused, with the reason, newest first")
async def list_rejected(
    request: Request,
    site_id: SiteId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
) -> Response:
    services = request.app.state.services
    rows = await run_in_threadpool(services.event_log.rejected, site_id, limit, before)
    keyring = services.keyring
    out: list[dict[str, Any]] = []
    for row in rows:
        raw = keyring.decrypt(row["body_enc"], PURPOSE_REJECTED_BODY)
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", errors="replace")
        out.append(
            {
                "id": row["seq"],
                "event_id": row["event_id"],
                "received_at": iso_ms(row["received_at"]),
                "source": row["source"],
                "endpoint": row["endpoint"],
                "error": {"code": row["code"], "message": row["message"], "field": row["field"]},
                "step": row["step"],
                "body_size": row["body_size"],
                "body": body,
            }
        )
    next_before = rows[-1]["seq"] if len(rows) == limit else None
    return json_response({"rejected": out, "next_before": next_before})
