"""``/api/v1/blocks`` (manage blocks and variants) and contact recommendations (API key)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from shoptrack.errors import Reason, ShoptrackError
from shoptrack.identity.contacts import one_identifier
from shoptrack.recommend.blocks import check_filters, parse_variant_id
from shoptrack.recommend.serving import RecommendationService
from shoptrack.web.api.bodies import StoredBody
from shoptrack.web.api.params import BlockId
from shoptrack.web.api.routing import KeyFirstRoute
from shoptrack.web.auth import require_site
from shoptrack.web.recs import service_of, split_keys
from shoptrack.web.responses import json_response

router = APIRouter(prefix="/api/v1", tags=["recommendations"], route_class=KeyFirstRoute)
contact_router = APIRouter(prefix="/api/v1", tags=["recommendations"], route_class=KeyFirstRoute)
SiteId = Annotated[str, Depends(require_site)]


class VariantIn(StoredBody):
    model_config = ConfigDict(extra="forbid")
    algorithm: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    weight: float = Field(1.0, ge=0)


class BlockFields(StoredBody):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    page_type: str | None = None
    count: int | None = Field(None, ge=1, le=100)
    filters: dict[str, Any] | None = None
    selector: str | None = None
    position: str | None = None
    template: str | None = None
    title: str | None = None
    placement_id: int | None = Field(None, ge=0)


Status = Literal["preview", "live", "paused"]


class BlockIn(BlockFields):
    status: Status = "preview"
    variants: list[VariantIn] = Field(min_length=1, max_length=8)


class VariantPatch(StoredBody):
    model_config = ConfigDict(extra="forbid")
    weight: float | None = Field(None, ge=0)
    params: dict[str, Any] | None = None


class StatusIn(StoredBody):
    status: Status = Field(
        description="preview: served, rendered only with the preview token; live: rendered "
        "on its pages; paused: neither rendered nor served (its variants answer 404)"
    )


def _service(request: Request, site_id: str) -> RecommendationService:
    """The service of a write: the blocks it changes are swapped in before it answers."""
    return service_of(request)


def _variant_number(text: str) -> int:
    parsed = parse_variant_id(text)
    if parsed is not None:
        return parsed[1]
    if text.isdigit():
        return int(text)
    raise ShoptrackError(Reason.INVALID_VALUE, "variant id must read r{block}v{variant}", "variant")


@router.post("/blocks", status_code=201, summary="Create a block with 1-8 weighted variants")
async def create_block(request: Request, site_id: SiteId, body: BlockIn) -> Response:
    service = _service(request, site_id)
    fields = body.model_dump(exclude_unset=True, exclude={"status", "variants"})
    variants = [v.model_dump() for v in body.variants]
    block = await run_in_threadpool(
        lambda: service.blocks.create(site_id, fields, variants, status=body.status, actor="api")
    )
    await run_in_threadpool(service.refresh_blocks, site_id)
    return json_response(block.to_json(), 201)


@router.get("/blocks", summary="The site's blocks with their variants")
async def list_blocks(request: Request, site_id: SiteId) -> Response:
    blocks = await run_in_threadpool(service_of(request).blocks.list_blocks, site_id)
    return json_response({"blocks": [b.to_json() for b in blocks]})


@router.get("/blocks/{block_id}", summary="One block, with its change history")
async def get_block(request: Request, site_id: SiteId, block_id: BlockId) -> Response:
    store = service_of(request).blocks
    block = await run_in_threadpool(store.get, site_id, block_id)
    history = await run_in_threadpool(store.history, site_id, block_id)
    return json_response({**block.to_json(), "history": history})


@router.get("/blocks/{block_id}/history", summary="Every change of a block, oldest first")
async def block_history(request: Request, site_id: SiteId, block_id: BlockId) -> Response:
    store = service_of(request).blocks
    await run_in_threadpool(store.get, site_id, block_id)
    return json_response({"history": await run_in_threadpool(store.history, site_id, block_id)})


@router.patch("/blocks/{block_id}", summary="Change a block's fields")
async def update_block(
    request: Request, site_id: SiteId, block_id: BlockId, body: BlockFields
) -> Response:
    service = _service(request, site_id)
    fields = body.model_dump(exclude_unset=True)
    block = await run_in_threadpool(service.blocks.update, site_id, block_id, fields)
    await run_in_threadpool(service.refresh_blocks, site_id)
    return json_response(block.to_json())


@router.delete(
    "/blocks/{block_id}",
    summary="Delete a block: no longer listed or served; its reports stay, its id is not reused",
)
async def delete_block(request: Request, site_id: SiteId, block_id: BlockId) -> Response:
    service = _service(request, site_id)
    await run_in_threadpool(lambda: service.blocks.delete(site_id, block_id, actor="api"))
    await run_in_threadpool(service.refresh_blocks, site_id)
    return json_response({"deleted": block_id})


@router.post("/blocks/{block_id}/status", summary="Preview (token only), live or paused")
async def set_status(
    request: Request, site_id: SiteId, block_id: BlockId, body: StatusIn
) -> Response:
    service = _service(request, site_id)
    block = await run_in_threadpool(service.blocks.set_status, site_id, block_id, body.status)
    await run_in_threadpool(service.refresh_blocks, site_id)
    return json_response(block.to_json())


@router.post("/blocks/{block_id}/variants", status_code=201, summary="Add a variant (max 8)")
async def add_variant(
    request: Request, site_id: SiteId, block_id: BlockId, body: VariantIn
) -> Response:
    service = _service(request, site_id)
    block = await run_in_threadpool(
        lambda: service.blocks.add_variant(
            site_id, block_id, body.algorithm, body.params, body.weight
        )
    )
    await run_in_threadpool(service.refresh_blocks, site_id)
    return json_response(block.to_json(), 201)


@router.patch("/blocks/{block_id}/variants/{variant_id}", summary="Change a variant's weight")
async def update_variant(
    request: Request, site_id: SiteId, block_id: BlockId, variant_id: str, body: VariantPatch
) -> Response:
    service = _service(request, site_id)
    number = _variant_number(variant_id)
    block = await run_in_threadpool(
        lambda: service.blocks.update_variant(
            site_id, block_id, number, weight=body.weight, params=body.params
        )
    )
    await run_in_threadpool(service.refresh_blocks, site_id)
    return json_response(block.to_json())


class ContactRecsQuery(BaseModel):
    """What a contact's recommendations may be narrowed by."""

    block: int | None = Field(None, description="block id; personal when absent")
    products: str | None = Field(None, description="product keys, comma-separated")
    category: str | None = Field(None, description="a categoryKey")
    filters: str | None = Field(None, description="filters as JSON")
    limit: int | None = Field(None, ge=1, le=100)


async def _for_contact(
    request: Request, site_id: str, contact_id: str, query: ContactRecsQuery
) -> Response:
    try:
        parsed = check_filters(orjson.loads(query.filters)) if query.filters else None
    except orjson.JSONDecodeError:
        raise ShoptrackError(Reason.INVALID_VALUE, "filters must be JSON", "filters") from None
    service = service_of(request)
    result = await run_in_threadpool(
        lambda: service.for_contact(
            site_id,
            contact_id,
            block_id=query.block,
            products=split_keys(query.products),
            category=query.category,
            filters=parsed,
            limit=query.limit,
        )
    )
    return json_response(result)


# Before ``/contacts/{contact_id}`` of the contacts router: the app includes this one first.
@contact_router.get(
    "/contacts/recommendations",
    summary="Products for the contact with this e-mail, phone or externalCustomerId, in one call",
    responses={404: {"description": "No contact has that identifier, or no such block"}},
)
async def recommendations_by_identifier(
    request: Request,
    site_id: SiteId,
    query: Annotated[ContactRecsQuery, Query()],
    email: str | None = None,
    phone: str | None = None,
    externalCustomerId: str | None = None,
) -> Response:
    given = {"externalCustomerId": externalCustomerId, "email": email, "phone": phone}
    identifier = one_identifier(given)
    if identifier is None:
        raise ShoptrackError(
            Reason.MISSING_FIELD, "give one of email, phone or externalCustomerId", "email"
        )
    contacts = request.app.state.services.identity.contacts
    contact_id = await run_in_threadpool(contacts.find_id, site_id, *identifier)
    return await _for_contact(request, site_id, contact_id, query)


@contact_router.get(
    "/contacts/{contact_id}/recommendations",
    summary="Products for a contact (e-mail, triggers) from all of its visitors' history",
)
async def contact_recommendations(
    request: Request,
    site_id: SiteId,
    contact_id: str,
    query: Annotated[ContactRecsQuery, Query()],
) -> Response:
    return await _for_contact(request, site_id, contact_id, query)
