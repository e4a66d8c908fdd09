"""``/api/v1/segments``: audiences defined as JSON (schema version 1, see the README), their
preview, members (contacts, paged) and history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ConfigDict, Field
from starlette.responses import Response

from shoptrack.segments.repo import UNCHANGED
from shoptrack.segments.service import MAX_PAGE, MAX_SAMPLE, SegmentService
from shoptrack.web.api.bodies import StoredBody
from shoptrack.web.api.routing import KeyFirstRoute
from shoptrack.web.auth import require_site
from shoptrack.web.responses import json_response

router = APIRouter(prefix="/api/v1", tags=["segments"], route_class=KeyFirstRoute)
SiteId = Annotated[str, Depends(require_site)]
SegmentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the segment's number")]

DEFINITION_HELP = (
    'schema version 1: {"version": 1, "match": NODE}; NODE is {"all": [NODE…]}, '
    '{"any": [NODE…]}, {"not": NODE} or a condition with a `condition` name: event, '
    "orders, last_order, contact, abandoned_cart, abandoned_browse, viewed_in_stock, "
    "wishlist_in_stock, price_drop, regular_demand (see the README's Segments section)"
)


class NewSegment(StoredBody):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    definition: dict[str, Any] = Field(description=DEFINITION_HELP)


class SegmentChange(StoredBody):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    definition: dict[str, Any] | None = Field(None, description=DEFINITION_HELP)
    webhook_url: str | None = Field(
        None,
        max_length=2000,
        description="post entries and exits here (Standard Webhooks, the site's secret); "
        "null removes it",
    )


class Preview(StoredBody):
    model_config = ConfigDict(extra="forbid")
    definition: dict[str, Any] = Field(description=DEFINITION_HELP)
    sample: int = Field(20, ge=0, le=MAX_SAMPLE)


def _service(request: Request) -> SegmentService:
    return SegmentService(request.app.state.services.engine, request.app.state.services.keyring)


@router.get("/segments", summary="The site's segments with their member counts")
async def list_segments(request: Request, site_id: SiteId) -> Response:
    found = await run_in_threadpool(_service(request).all, site_id)
    return json_response({"segments": [s.to_json() for s in found]})


@router.post(
    "/segments",
    status_code=201,
    summary="Create a segment; its members are evaluated at once, then kept up to date",
)
async def create_segment(request: Request, site_id: SiteId, body: NewSegment) -> Response:
    made = await run_in_threadpool(_service(request).create, site_id, body.name, body.definition)
    return json_response(made.to_json(), 201)


@router.post(
    "/segments/preview",
    summary="How many people a definition matches now, with a sample; nothing is saved",
)
async def preview_segment(request: Request, site_id: SiteId, body: Preview) -> Response:
    result = await run_in_threadpool(
        _service(request).preview, site_id, body.definition, body.sample
    )
    return json_response(result)


@router.get("/segments/{segment_id}", summary="One segment")
async def get_segment(request: Request, site_id: SiteId, segment_id: SegmentId) -> Response:
    found = await run_in_threadpool(_service(request).get, site_id, segment_id)
    return json_response(found.to_json())


@router.patch(
    "/segments/{segment_id}",
    summary="Rename a segment, change its definition (members are evaluated anew) or its "
    "webhook_url",
)
async def change_segment(
    request: Request, site_id: SiteId, segment_id: SegmentId, body: SegmentChange
) -> Response:
    webhook_url = body.webhook_url if "webhook_url" in body.model_fields_set else UNCHANGED
    service = _service(request)
    changed = await run_in_threadpool(
        lambda: service.change(site_id, segment_id, body.name, body.definition, webhook_url)
    )
    return json_response(changed.to_json())


@router.delete("/segments/{segment_id}", status_code=204, summary="Delete a segment")
async def delete_segment(request: Request, site_id: SiteId, segment_id: SegmentId) -> Response:
    await run_in_threadpool(_service(request).delete, site_id, segment_id)
    return Response(status_code=204)


@router.get(
    "/segments/{segment_id}/contacts",
    summary="The segment's contacts, by contact id, a page at a time (anonymous visitors "
    "are counted but not exported)",
)
async def segment_contacts(
    request: Request,
    site_id: SiteId,
    segment_id: SegmentId,
    after: Annotated[
        str | None, Query(max_length=64, description="the `next` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Response:
    page = await run_in_threadpool(
        _service(request).contacts_page, site_id, segment_id, after, limit
    )
    return json_response(page)


@router.get(
    "/segments/{segment_id}/history",
    summary="The member count over time and the latest entries and exits",
)
async def segment_history(
    request: Request,
    site_id: SiteId,
    segment_id: SegmentId,
    changes: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> Response:
    result = await run_in_threadpool(_service(request).history, site_id, segment_id, changes)
    return json_response(result)
