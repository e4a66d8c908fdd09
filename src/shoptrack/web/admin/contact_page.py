"""One contact: its profile (decrypted on purpose), its devices, its timeline across devices,
the export of everything held about the person, and erasure after a confirmation.

Export and erasure are the API's own (``ContactService.export``, ``Services.erase_contact``),
so the dashboard and ``/api/v1/contacts/{id}`` give the same file and erase the same things.
Erasure is a POST form with the CSRF token, answered by a redirect to the audit entry it
wrote: the page after it shows the counts, never the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from shoptrack.errors import KeyMissing, NotFound, ShoptrackError
from shoptrack.identity.contact_pages import (
    Device,
    contact_visitor_ids,
    devices_of,
    erasure_record,
)
from shoptrack.store.event_pages import EventFilter, event_page
from shoptrack.web.admin.event_rows import EventView, event_view
from shoptrack.web.admin.events import cursor_param
from shoptrack.web.admin.pages import (
    AdminContext,
    AdminPageError,
    SiteForm,
    SitePage,
    render,
    see_other,
)

router = APIRouter()

TIMELINE_SIZE = 50
_BASE = "/admin/sites/{site_id}/contacts/{contact_id}"
_GONE = "This site has no such contact: it may have been erased."


@dataclass(frozen=True, slots=True)
class ContactView:
    contact_id: str
    contact: dict[str, Any] | None  # the API's contact JSON; None when it cannot be decrypted
    problem: str | None
    devices: list[Device]
    timeline: list[EventView]
    older: int | None

    def time_of(self, name: str) -> int | None:
        """``created_at`` / ``updated_at`` of the API's JSON (ISO 8601) as ms, for fmt_time."""
        value = (self.contact or {}).get(name)
        if not isinstance(value, str):
            return None
        return int(datetime.fromisoformat(value).timestamp() * 1000)


def _resolve(ctx: AdminContext, contact_id: str) -> tuple[str, list[str]]:
    live_id, visitors = contact_visitor_ids(ctx.services.engine, ctx.site_id, contact_id)
    if not live_id:
        raise AdminPageError(404, "Not found", _GONE)
    return live_id, visitors


def load_contact(ctx: AdminContext, contact_id: str, before: int | None) -> ContactView:
    engine = ctx.services.engine
    live_id, visitors = _resolve(ctx, contact_id)
    contact: dict[str, Any] | None = None
    problem = None
    try:
        contact = ctx.services.identity.contacts.get(ctx.site_id, live_id)
    except KeyMissing as error:
        problem = error.message
    page = event_page(
        engine, ctx.site_id, EventFilter(None, tuple(visitors), before), TIMELINE_SIZE
    )
    links = dict.fromkeys(visitors, live_id)
    return ContactView(
        live_id,
        contact,
        problem,
        devices_of(engine, ctx.site_id, live_id),
        [event_view(e, links) for e in page.events],
        page.older,
    )


@router.get(_BASE, name="admin_contact")
async def contact_page(request: Request, ctx: SitePage, contact_id: str) -> Response:
    before = cursor_param(request.query_params.get("before"))
    view = await run_in_threadpool(load_contact, ctx, contact_id, before)
    path = request.url.path
    return render(
        request,
        ctx,
        "contacts/contact.html",
        {
            "view": view,
            "older_url": f"{path}?before={view.older}" if view.older else None,
            "newest_url": path if before else None,
        },
    )


def _export(ctx: AdminContext, contact_id: str) -> tuple[str, bytes]:
    live_id, _ = _resolve(ctx, contact_id)
    try:
        data = ctx.services.identity.contacts.export(ctx.site_id, live_id)
    except NotFound:
        raise AdminPageError(404, "Not found", _GONE) from None
    except ShoptrackError as error:  # a lost key: nothing to export but the problem
        raise AdminPageError(error.status, "Cannot export", error.message) from None
    return live_id, orjson.dumps(data)


@router.get(_BASE + "/export", name="admin_contact_export")
async def contact_export(ctx: SitePage, contact_id: str) -> Response:
    """The same JSON as ``GET /api/v1/contacts/{id}/export``, as a file to save."""
    live_id, body = await run_in_threadpool(_export, ctx, contact_id)
    filename = quote(f"contact-{live_id}.json")
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",  # personal data: not kept by the browser's cache
        },
    )


@router.get(_BASE + "/erase", name="admin_contact_erase")
async def erase_confirm(request: Request, ctx: SitePage, contact_id: str) -> Response:
    live_id, visitors = await run_in_threadpool(_resolve, ctx, contact_id)
    return render(
        request,
        ctx,
        "contacts/erase.html",
        {"contact_id": live_id, "visitors": len(visitors)},
    )


def _actor(ctx: AdminContext) -> str:
    """Who erased, for the audit log: the dashboard user's id, not their e-mail."""
    return f"admin:{ctx.user.user_id}"[:64]


@router.post(_BASE + "/erase", name="admin_contact_erase_post")
async def erase(request: Request, ctx: SiteForm, contact_id: str) -> Response:
    live_id, _ = await run_in_threadpool(_resolve, ctx, contact_id)
    try:
        report = await run_in_threadpool(
            ctx.services.erase_contact, ctx.site_id, live_id, _actor(ctx)
        )
    except NotFound:
        raise AdminPageError(404, "Not found", _GONE) from None
    except ShoptrackError as error:  # 503: the site's events were not all read in time
        raise AdminPageError(error.status, "Not erased", error.message) from None
    done = request.app.url_path_for(
        "admin_contact_erased", site_id=ctx.site_id, audit_id=report.audit_id
    )
    return see_other(str(done))


@router.get("/admin/sites/{site_id}/erasures/{audit_id}", name="admin_contact_erased")
async def erased(request: Request, ctx: SitePage, audit_id: str) -> Response:
    record = await run_in_threadpool(erasure_record, ctx.services.engine, ctx.site_id, audit_id)
    if record is None:
        raise AdminPageError(404, "Not found", "This site has no such erasure.")
    return render(request, ctx, "contacts/erased.html", {"record": record, "audit_id": audit_id})
