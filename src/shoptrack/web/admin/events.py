"""Live events: the site's event log newest first, filtered by type, visitor or contact.

Filters are a GET form (ids, not personal data: the page's URL can be shared with the shop's
developer), pages follow a ``before`` seq cursor, and "live" (``live=1``) makes the newest
page reload itself every few seconds with ``<meta http-equiv="refresh">``: no script.
Events are shown as their canonical JSON, which holds no personal data; their encrypted
identities are never read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.responses import Response

from shoptrack.events.types import EventType
from shoptrack.identity.contact_pages import contact_visitor_ids, contacts_of_visitors
from shoptrack.store.event_pages import EventFilter, event_page
from shoptrack.web.admin.event_rows import EventView, event_view
from shoptrack.web.admin.pages import AdminContext, SitePage, render

router = APIRouter()

PAGE_SIZE = 50
REFRESH_SECONDS = 5
EVENT_TYPES = tuple(t.value for t in EventType)


def cursor_param(raw: str | None) -> int | None:
    """A ``before`` cursor from a link; anything else reads as "the newest page"."""
    if raw and raw.isdigit() and len(raw) <= 19:
        return int(raw)
    return None


def text_param(params: QueryParams, name: str, longest: int) -> str:
    return (params.get(name) or "").strip()[:longest]


@dataclass(frozen=True, slots=True)
class EventQuery:
    """The page's filters as the form sent them (blank: not filtered)."""

    event_type: str
    visitor: str
    contact: str
    before: int | None
    live: bool

    @classmethod
    def from_params(cls, params: QueryParams) -> EventQuery:
        event_type = text_param(params, "type", 32)
        return cls(
            event_type=event_type if event_type in EVENT_TYPES else "",
            visitor=text_param(params, "visitor", 128),
            contact=text_param(params, "contact", 64),
            before=cursor_param(params.get("before")),
            live=params.get("live") == "1",
        )

    def link(self, base: str, **changes: Any) -> str:
        values = {
            "type": self.event_type,
            "visitor": self.visitor,
            "contact": self.contact,
            "live": "1" if self.live else "",
            "before": self.before,
            **changes,
        }
        query = urlencode({k: v for k, v in values.items() if v not in ("", None, False)})
        return f"{base}?{query}" if query else base


@dataclass(frozen=True, slots=True)
class EventListing:
    events: list[EventView]
    older: int | None
    contact_found: bool  # False when a contact filter named no contact of the site
    contact_id: str  # the live contact a (possibly merged) id led to


def load_events(ctx: AdminContext, query: EventQuery) -> EventListing:
    engine = ctx.services.engine
    visitors: tuple[str, ...] | None = None
    contact_id = ""
    if query.contact:
        contact_id, linked = contact_visitor_ids(engine, ctx.site_id, query.contact)
        visitors = tuple(linked)
        if query.visitor:
            visitors = tuple(v for v in visitors if v == query.visitor)
    elif query.visitor:
        visitors = (query.visitor,)
    wanted = EventFilter(query.event_type or None, visitors, query.before)
    page = event_page(engine, ctx.site_id, wanted, PAGE_SIZE)
    seen = [e.visitor_id for e in page.events if e.visitor_id]
    contacts = contacts_of_visitors(engine, ctx.site_id, seen)
    views = [event_view(e, contacts) for e in page.events]
    return EventListing(views, page.older, bool(contact_id) or not query.contact, contact_id)


@router.get("/admin/sites/{site_id}/events", name="admin_events")
async def events_page(request: Request, ctx: SitePage) -> Response:
    query = EventQuery.from_params(request.query_params)
    listing = await run_in_threadpool(load_events, ctx, query)
    base = request.url.path
    return render(
        request,
        ctx,
        "events/list.html",
        {
            "query": query,
            "listing": listing,
            "event_types": EVENT_TYPES,
            "older_url": query.link(base, before=listing.older) if listing.older else None,
            "newest_url": query.link(base, before=None) if query.before else None,
            "live_on_url": query.link(base, live="1", before=None),
            "live_off_url": query.link(base, live=""),
            "refresh": REFRESH_SECONDS if query.live and query.before is None else None,
            "filter_url": lambda **changes: query.link(base, before=None, **changes),
        },
    )
