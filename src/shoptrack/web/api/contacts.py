"""Contacts: upsert (one or a bulk of up to 3,000), lookup, listing, history, export, erasure.

Also the site's own settings (``default_region`` for phone numbers, ``auto_create_contacts``).
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from shoptrack.collector.limits import (
    Limits,
    check_storable,
    check_structure,
    parse_json,
    read_body,
)
from shoptrack.errors import Reason, ShoptrackError
from shoptrack.identity.contacts import one_identifier, require_rows
from shoptrack.identity.services import IdentityServices
from shoptrack.identity.signing import configure_site, site_settings_view
from shoptrack.web.api.params import MAX_BIGINT
from shoptrack.web.api.routing import KeyFirstRoute
from shoptrack.web.auth import require_site
from shoptrack.web.openapi import TOO_LARGE, request_body
from shoptrack.web.responses import json_response

router = APIRouter(prefix="/api/v1", tags=["contacts"], route_class=KeyFirstRoute)
SiteId = Annotated[str, Depends(require_site)]


def _identity(request: Request) -> IdentityServices:
    services = request.app.state.services
    identity: IdentityServices = services.identity
    return identity


def _actor(request: Request) -> str:
    """Who acted, for the audit log: the API key's prefix, never the key."""
    header = request.headers.get("authorization", "")
    token = header.split(" ", 1)[-1].strip()
    return f"api:{token[:10]}" if token else "api"


_TEXT = {"type": "string"}
CONTACT_SCHEMA = {
    "type": "object",
    "description": "at least one of externalCustomerId, email, phone; snake_case names "
    "(external_customer_id, first_name, …) are accepted too",
    "properties": {
        "externalCustomerId": _TEXT,
        "email": _TEXT,
        "phone": {"type": "string", "description": "E.164, or national with default_region"},
        "firstName": _TEXT,
        "lastName": _TEXT,
        "city": _TEXT,
        "fields": {
            "type": "object",
            "description": "your own fields",
            "additionalProperties": True,
        },
    },
}
CONTACTS_BODY = request_body(
    {
        "oneOf": [
            CONTACT_SCHEMA,
            {
                "type": "object",
                "required": ["contacts"],
                "properties": {
                    "contacts": {"type": "array", "maxItems": 3000, "items": CONTACT_SCHEMA}
                },
            },
        ]
    },
    {"externalCustomerId": "C-1", "email": "anna@example.com", "firstName": "Anna"},
)
SETTINGS_BODY = request_body(
    {
        "type": "object",
        "description": "the settings to change; null removes a setting",
        "properties": {
            "default_region": {
                "type": ["string", "null"],
                "description": "ISO 3166 region for phone numbers without a country code",
            },
            "auto_create_contacts": {
                "type": ["boolean", "null"],
                "description": "create a contact for a browser identity nobody imported",
            },
            "require_signed_identity": {
                "type": ["boolean", "null"],
                "description": "browser identities link a visitor only when signed (user_hash);"
                " needs the identity secret",
            },
            "identity_secret": {
                "type": "string",
                "enum": ["new"],
                "description": "make or replace the secret the shop signs identities with;"
                " the answer shows it once",
            },
        },
        "additionalProperties": False,
    },
    {"default_region": "UA"},
)


@router.post(
    "/contacts",
    summary="Create or update one contact, or up to 3,000 at once",
    openapi_extra=CONTACTS_BODY,
    responses=TOO_LARGE,
)
async def upsert_contacts(request: Request, site_id: SiteId) -> Response:
    """One contact object, or ``{"contacts": [...]}``. Matching: ``externalCustomerId``, then
    the normalized e-mail, then the normalized phone. A bulk answer lists the failed rows with
    their reasons; the good rows are stored."""
    settings = request.app.state.services.settings
    raw = await read_body(
        request.receive, request.headers.get("content-length"), settings.max_import_body_bytes
    )
    body = parse_json(raw)
    max_rows = settings.max_contacts_per_request
    limits = Limits(
        settings.max_import_body_bytes,
        settings.max_depth,
        max(settings.max_list_length, max_rows + 1),
        settings.max_string_length,
    )
    check_structure(body, limits, raw)
    rows, bulk = require_rows(body, max_rows)
    result = await run_in_threadpool(_identity(request).contacts.upsert_many, site_id, rows)
    if not bulk:
        if result.failed:
            error = result.failed[0]["error"]
            raise ShoptrackError(Reason(error["code"]), error["message"], error["field"])
        item = result.contacts[0]
        contact = await run_in_threadpool(_identity(request).contacts.get, site_id, item["id"])
        return json_response({"created": item["created"], "contact": contact}, 200)
    answer = result.to_json()
    if not result.contacts:
        answer["error"] = result.failed[0]["error"]
        return json_response(answer, 400)
    return json_response(answer, 200)


@router.get(
    "/contacts",
    summary="List the site's contacts by id, a page at a time, or find one by "
    "externalCustomerId, email or phone (exact)",
)
async def find_contacts(
    request: Request,
    site_id: SiteId,
    externalCustomerId: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500, description="contacts per page")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=64, description="the `next` of the previous page")
    ] = None,
) -> Response:
    contacts = _identity(request).contacts
    given = {"externalCustomerId": externalCustomerId, "email": email, "phone": phone}
    identifier = one_identifier(given)
    if identifier is not None:
        found = await run_in_threadpool(contacts.lookup, site_id, *identifier)
        return json_response({"contacts": found, "next": None})
    page, next_cursor = await run_in_threadpool(contacts.page, site_id, limit, cursor)
    return json_response({"contacts": page, "next": next_cursor})


@router.get("/contacts/{contact_id}", summary="One contact with its visitors (devices)")
async def get_contact(request: Request, site_id: SiteId, contact_id: str) -> Response:
    contact = await run_in_threadpool(_identity(request).contacts.get, site_id, contact_id)
    return json_response({"contact": contact})


@router.get(
    "/contacts/{contact_id}/events",
    summary="The contact's events, newest first, including those from before it logged in",
)
async def contact_events(
    request: Request,
    site_id: SiteId,
    contact_id: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
) -> Response:
    cid, rows = await run_in_threadpool(
        _identity(request).contacts.history, site_id, contact_id, limit, before
    )
    events_json = b",".join(data.encode() for _, data in rows)
    next_before = rows[-1][0] if len(rows) == limit else None
    body = (
        b'{"contact_id":'
        + orjson.dumps(cid)
        + b',"events":['
        + events_json
        + b'],"next_before":'
        + orjson.dumps(next_before)
        + b"}"
    )
    return Response(body, media_type="application/json")


@router.get("/contacts/{contact_id}/export", summary="Everything held about the person")
async def export_contact(request: Request, site_id: SiteId, contact_id: str) -> Response:
    data = await run_in_threadpool(_identity(request).contacts.export, site_id, contact_id)
    return json_response(data)


@router.delete(
    "/contacts/{contact_id}",
    summary="Erase the person: personal data deleted, events kept but unlinkable, audited",
    responses={
        503: {
            "description": "The site's events were not all read by the identity processor in "
            "time (SHOPTRACK_ERASURE_WAIT_S): nothing was erased, retry"
        }
    },
)
async def erase_contact(request: Request, site_id: SiteId, contact_id: str) -> Response:
    services = request.app.state.services
    report = await run_in_threadpool(services.erase_contact, site_id, contact_id, _actor(request))
    return json_response(report.to_json())


@router.get("/site/settings", summary="The site's settings")
async def get_site_settings(request: Request, site_id: SiteId) -> Response:
    identity = _identity(request)
    values = await run_in_threadpool(identity.site_settings.get, site_id)
    view = await run_in_threadpool(site_settings_view, identity.engine, site_id, values)
    return json_response(view)


@router.patch(
    "/site/settings",
    summary="Change site settings (default_region, auto_create_contacts, "
    "require_signed_identity; null unsets) or make the identity secret",
    openapi_extra=SETTINGS_BODY,
    responses=TOO_LARGE,
)
async def patch_site_settings(request: Request, site_id: SiteId) -> Response:
    body = parse_json(
        await read_body(request.receive, request.headers.get("content-length"), 64 * 1024)
    )
    if not isinstance(body, dict):
        raise ShoptrackError(Reason.INVALID_BODY, "expected an object of settings")
    check_storable(body)  # settings are stored as text
    changes: dict[str, Any] = body
    identity = _identity(request)
    view = await run_in_threadpool(
        configure_site, identity.engine, identity.keyring, site_id, changes
    )
    # The new secret, when one was made, is shown in this answer only.
    return json_response(view, headers={"Cache-Control": "no-store"})
