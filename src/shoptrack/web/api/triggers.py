"""``/api/v1/triggers`` (the site's rule settings), ``/api/v1/messages`` (what they sent) and
``/api/v1/contacts/{id}/subscriptions`` (who may be sent them)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from shoptrack.collector.limits import parse_json, read_body
from shoptrack.errors import Reason, ShoptrackError
from shoptrack.store.db import WriteTurn
from shoptrack.store.sql import now_ms
from shoptrack.triggers import messages
from shoptrack.triggers.model import Channel, MessageStatus, Rule
from shoptrack.triggers.rules import parse_rule, read_rules, update_rule
from shoptrack.triggers.unsubscribe import set_subscribed, subscriptions
from shoptrack.web.api.routing import KeyFirstRoute
from shoptrack.web.auth import require_site
from shoptrack.web.openapi import TOO_LARGE, request_body
from shoptrack.web.responses import json_response

router = APIRouter(prefix="/api/v1", tags=["triggers"], route_class=KeyFirstRoute)
SiteId = Annotated[str, Depends(require_site)]

RULE_BODY = request_body(
    {
        "type": "object",
        "description": "the settings to change (the others stay as they are)",
        "properties": {
            "enabled": {"type": "boolean"},
            "channel": {"type": "string", "enum": ["email", "webhook"]},
            "delay_seconds": {
                "type": ["integer", "string"],
                "description": "seconds (at least 60), or a duration such as 30m or 2h",
            },
            "cap_days": {"type": "integer", "description": "at most once per contact per N days"},
            "webhook_url": {"type": ["string", "null"], "description": "http(s) URL"},
            "template": {"type": ["string", "null"]},
            "segment_id": {
                "type": ["integer", "null"],
                "description": "send only to contacts in this segment (null: everyone)",
            },
            "thresholds": {
                "type": "object",
                "description": "the rule's own numbers, changed by name (null: the default): "
                "wishlist and price_drop take window_days (1-365) and min_drop_percent "
                "(1-90), back_in_stock window_days; the other rules none",
            },
        },
        "additionalProperties": False,
    },
    {"enabled": True, "channel": "email", "delay_seconds": 3600},
)


@router.get(
    "/triggers",
    summary="The site's trigger rules and their settings",
    description="Every rule, stored or default. Rules start disabled. `thresholds` lists "
    "the numbers set; a rule uses its defaults for the others (see the README).",
)
async def list_rules(request: Request, site_id: SiteId) -> Response:
    engine = request.app.state.services.engine

    def read() -> list[dict[str, Any]]:
        with engine.connect() as conn:
            return [s.to_json() for s in read_rules(conn, site_id).values()]

    return json_response({"rules": await run_in_threadpool(read)})


@router.patch(
    "/triggers/{rule}",
    summary="Change a rule's settings: enabled, channel, delay_seconds (≥ 60), cap_days, "
    "webhook_url, template, thresholds",
    openapi_extra=RULE_BODY,
    responses=TOO_LARGE,
)
async def patch_rule(request: Request, site_id: SiteId, rule: Rule) -> Response:
    parsed = parse_rule(rule.value)
    body = parse_json(
        await read_body(request.receive, request.headers.get("content-length"), 64 * 1024)
    )
    if not isinstance(body, dict):
        raise ShoptrackError(Reason.INVALID_BODY, "expected an object of settings")
    changes: dict[str, Any] = body
    engine = request.app.state.services.engine

    def write() -> dict[str, Any]:
        with WriteTurn(engine)(), engine.begin() as conn:
            return update_rule(conn, site_id, parsed, changes).to_json()

    return json_response({"rule": await run_in_threadpool(write)})


@router.get(
    "/messages",
    summary="The site's trigger messages, newest first, a page at a time",
    description="Filters: `rule`, `status` (pending, sending, sent, failed, cancelled, "
    "suppressed), `contact_id`. `reason` says why a message was cancelled or suppressed. "
    "No e-mail address is stored with a message.",
)
async def list_messages(
    request: Request,
    site_id: SiteId,
    rule: Rule | None = None,
    status: MessageStatus | None = None,
    contact_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="messages per page")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=40, description="the `next` of the previous page")
    ] = None,
) -> Response:
    engine = request.app.state.services.engine
    page, next_cursor = await run_in_threadpool(
        lambda: messages.list_messages(
            engine,
            site_id,
            rule=rule.value if rule else None,
            status=status.value if status else None,
            contact_id=contact_id,
            limit=limit,
            cursor=cursor,
        )
    )
    return json_response({"messages": page, "next": next_cursor})


@router.get("/messages/{message_id}", summary="One message with every send attempt")
async def get_message(request: Request, site_id: SiteId, message_id: str) -> Response:
    engine = request.app.state.services.engine
    found = await run_in_threadpool(messages.get_message, engine, site_id, message_id)
    return json_response({"message": found})


@router.post(
    "/messages/{message_id}/retry",
    summary="Send a failed message again (at the worker's next round)",
    description="Only a `failed` message can be retried (409 otherwise); it becomes "
    "`pending`. Use it for an e-mail whose outcome was unknown after a crash, once you know "
    "it did not arrive.",
)
async def retry_message(request: Request, site_id: SiteId, message_id: str) -> Response:
    engine = request.app.state.services.engine
    found = await run_in_threadpool(messages.retry_message, engine, site_id, message_id, now_ms())
    return json_response({"message": found})


SUBSCRIPTION_BODY = request_body(
    {
        "type": "object",
        "properties": {"subscribed": {"type": "boolean"}},
        "required": ["subscribed"],
        "additionalProperties": False,
    },
    {"subscribed": True},
)


@router.get(
    "/contacts/{contact_id}/subscriptions",
    summary="Whether a contact may be sent trigger messages, per channel",
    description="`subscribed: false` with `unsubscribed_at` once the contact used an "
    "unsubscribe link (or the shop unsubscribed it). An id merged into another contact "
    "answers for that contact.",
)
async def get_subscriptions(
    request: Request, site_id: SiteId, contact_id: Annotated[str, Path(max_length=64)]
) -> Response:
    engine = request.app.state.services.engine
    found = await run_in_threadpool(subscriptions, engine, site_id, contact_id)
    return json_response(found)


@router.put(
    "/contacts/{contact_id}/subscriptions/{channel}",
    summary="Subscribe a contact to a channel's trigger messages again, or unsubscribe it",
    description='`{"subscribed": true}` lifts the contact\'s unsubscribes of the channel '
    "(only the shop can: do it when the person has consented again); `false` records one.",
    openapi_extra=SUBSCRIPTION_BODY,
    responses=TOO_LARGE,
)
async def put_subscription(
    request: Request,
    site_id: SiteId,
    contact_id: Annotated[str, Path(max_length=64)],
    channel: Channel,
) -> Response:
    body = parse_json(await read_body(request.receive, request.headers.get("content-length"), 4096))
    subscribed = body.get("subscribed") if isinstance(body, dict) else None
    if not isinstance(subscribed, bool):
        raise ShoptrackError(
            Reason.INVALID_VALUE, "subscribed: expected true or false", "subscribed"
        )
    unknown = sorted(set(body) - {"subscribed"}) if isinstance(body, dict) else []
    if unknown:
        raise ShoptrackError(
            Reason.INVALID_VALUE,
            f"{unknown[0][:40]}: unknown field; known: subscribed",
            unknown[0][:40],
        )
    engine = request.app.state.services.engine

    def write() -> dict[str, Any]:
        with WriteTurn(engine)():
            return set_subscribed(engine, site_id, contact_id, channel, subscribed)

    return json_response(await run_in_threadpool(write))
