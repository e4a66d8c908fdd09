"""The Triggers' messages: newest first by rule and state, a page at a time; one message with
its attempts; a failed message retried by hand.

The reads and the retry are ``triggers/messages.py``'s, as for ``/api/v1/messages``. A message
holds ids only (no address is stored with it), so nothing here decrypts personal data.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from shoptrack.errors import Conflict, NotFound, ShoptrackError
from shoptrack.triggers import messages
from shoptrack.triggers.model import MessageStatus, Rule
from shoptrack.web.admin.display import readable_times
from shoptrack.web.admin.pages import (
    AdminContext,
    AdminPageError,
    SiteForm,
    SitePage,
    render,
    see_other,
)

router = APIRouter()
PAGE_SIZE = 50


@router.get("/admin/sites/{site_id}/triggers/messages", name="admin_trigger_messages")
async def messages_page(
    request: Request,
    ctx: SitePage,
    rule: str = Query("", max_length=40),
    status: str = Query("", max_length=40),
    cursor: str = Query("", max_length=40),
    limit: int = Query(PAGE_SIZE, ge=1, le=500),
) -> Response:
    errors: dict[str, str] = {}
    page: list[dict[str, Any]] = []
    next_cursor = None
    try:
        page, next_cursor = await run_in_threadpool(
            lambda: messages.list_messages(
                ctx.services.engine,
                ctx.site_id,
                rule=rule or None,
                status=status or None,
                limit=limit,
                cursor=cursor or None,
            )
        )
    except ShoptrackError as exc:  # an unknown rule or state in the filter
        errors[exc.field or "rule"] = exc.message
    context = {
        "messages": [readable_times(m) for m in page],
        "next_cursor": next_cursor,
        "rule": rule,
        "status": status,
        "cursor": cursor,
        "limit": limit,
        "rules": [r.value for r in Rule],
        "statuses": [s.value for s in MessageStatus],
        "errors": errors,
    }
    return render(
        request, ctx, "triggers/messages.html", context, status_code=400 if errors else 200
    )


async def _message_page(
    request: Request,
    ctx: AdminContext,
    message_id: str,
    *,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        found = await run_in_threadpool(
            messages.get_message, ctx.services.engine, ctx.site_id, message_id
        )
    except NotFound:
        raise AdminPageError(404, "Not found", "This site has no such message.") from None
    found = readable_times(found)
    found["attempt_log"] = [readable_times(a) for a in found["attempt_log"]]
    context = {
        "message": found,
        "error": error,
        "notice": notice,
        "retryable": found["status"] == MessageStatus.FAILED.value,
    }
    return render(request, ctx, "triggers/message.html", context, status_code=status_code)


@router.get("/admin/sites/{site_id}/triggers/messages/{message_id}", name="admin_trigger_message")
async def message_page(
    request: Request, ctx: SitePage, message_id: str, retried: bool = False
) -> Response:
    notice = "Queued again: the worker sends it at its next round." if retried else None
    return await _message_page(request, ctx, message_id, notice=notice)


@router.post(
    "/admin/sites/{site_id}/triggers/messages/{message_id}/retry",
    name="admin_trigger_message_retry",
)
async def retry(request: Request, ctx: SiteForm, message_id: str) -> Response:
    try:
        services = ctx.services
        await run_in_threadpool(
            messages.retry_message, services.engine, ctx.site_id, message_id, services.clock()
        )
    except Conflict as exc:  # not failed (any more): say so on the message's page
        return await _message_page(request, ctx, message_id, error=exc.message, status_code=409)
    except NotFound:
        raise AdminPageError(404, "Not found", "This site has no such message.") from None
    target = request.app.url_path_for(
        "admin_trigger_message", site_id=ctx.site_id, message_id=message_id
    )
    return see_other(f"{target}?retried=1")
