"""Contacts: the newest first, a search by e-mail, phone or external id, one contact's page.

The search box takes personal data, so it is a POST form whose answer is rendered in place:
the value never lands in a URL, a history entry or a log. It is looked up through the blind
indexes (``identity/contact_pages.search_contacts``); nothing is decrypted but the rows shown.
A contact's page, its export and its erasure are in ``contact_page.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from shoptrack.errors import ShoptrackError
from shoptrack.identity.contact_pages import ContactRow, newest_contacts, search_contacts
from shoptrack.web.admin.pages import SiteForm, SitePage, render

router = APIRouter()

PAGE_SIZE = 50
SEARCH_KINDS = (
    ("", "E-mail, phone or external id"),
    ("email", "E-mail"),
    ("phone", "Phone"),
    ("externalCustomerId", "External customer id"),
)
_KINDS = {kind for kind, _ in SEARCH_KINDS}


@dataclass(frozen=True, slots=True)
class ContactLine:
    """A contact as a row of the list: its identifiers and name, decrypted."""

    contact_id: str
    email: str
    phone: str
    external_id: str
    name: str
    devices: int
    created_at: int
    problem: str | None

    @classmethod
    def of(cls, row: ContactRow) -> ContactLine:
        p = row.profile or {}
        name = " ".join(str(p[k]) for k in ("firstName", "lastName") if p.get(k))
        return cls(
            row.contact_id,
            str(p.get("email") or ""),
            str(p.get("phone") or ""),
            str(p.get("externalCustomerId") or ""),
            name,
            row.visitors,
            row.created_at,
            row.problem,
        )


@router.get("/admin/sites/{site_id}/contacts", name="admin_contacts")
async def contacts_list(request: Request, ctx: SitePage) -> Response:
    before = (request.query_params.get("before") or "")[:90] or None
    page = await run_in_threadpool(
        newest_contacts, ctx.services.engine, ctx.services.keyring, ctx.site_id, before, PAGE_SIZE
    )
    older = page.older
    return render(
        request,
        ctx,
        "contacts/list.html",
        {
            "lines": [ContactLine.of(row) for row in page.contacts],
            "kinds": SEARCH_KINDS,
            "search": None,
            "older_url": f"{request.url.path}?before={older}" if older else None,
            "newest_url": request.url.path if before else None,
        },
    )


@router.post("/admin/sites/{site_id}/contacts", name="admin_contacts_search")
async def contacts_search(
    request: Request,
    ctx: SiteForm,
    q: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
) -> Response:
    # Cut, not refused: a refusal would be FastAPI's JSON, and no identifier is this long.
    value, kind = q.strip()[:320], kind if kind in _KINDS else ""
    found: list[ContactRow] = []
    error = None
    if not value:
        error = "Type an e-mail address, a phone number or an external customer id."
    else:
        try:
            found = await run_in_threadpool(
                search_contacts, ctx.services.identity.contacts, ctx.site_id, value, kind or None
            )
        except ShoptrackError as refused:
            error = refused.message
    return render(
        request,
        ctx,
        "contacts/list.html",
        {
            "lines": [ContactLine.of(row) for row in found],
            "kinds": SEARCH_KINDS,
            "search": {"value": value, "kind": kind, "error": error},
            "older_url": None,
            "newest_url": None,
        },
        status_code=400 if error else 200,
    )
