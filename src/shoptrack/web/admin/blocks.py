"""Recommendations pages: a site's blocks and their variants (list, create, edit, go live,
pause, delete with confirmation, weighted variants, a preview on a product).

Every change goes through ``recommend.blocks.BlockStore``, as ``/api/v1/blocks`` does, and is
swapped into this process's serving state at once (``refresh_blocks``); the domain validates,
and its error names the input shown in red. The block report is in ``block_report.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from shoptrack.errors import NotFound, ShoptrackError
from shoptrack.recommend.block_rules import MAX_VARIANTS, POSITIONS, STATUSES
from shoptrack.recommend.blocks import ALGORITHMS, PAGE_TYPES, Block
from shoptrack.recommend.serving import RecommendationService, VariantNotFound
from shoptrack.web.admin.block_forms import (
    BLOCK_INPUTS,
    VARIANT_INPUTS,
    FormState,
    block_fields,
    block_values,
    json_object,
    variant_spec,
    variant_values,
    weight_of,
)
from shoptrack.web.admin.block_report import recent_summaries
from shoptrack.web.admin.block_report import router as report_router
from shoptrack.web.admin.pages import (
    AdminContext,
    AdminPageError,
    SiteForm,
    SitePage,
    render,
    see_other,
)
from shoptrack.web.api.params import MAX_BLOCK_ID
from shoptrack.web.recs import service_of

router = APIRouter()
BASE = "/admin/sites/{site_id}/blocks"
ONE = BASE + "/{block_id:int}"
T = TypeVar("T")
NEW_BLOCK = {"page_type": "product", "count": "10", "position": "beforeend",
             "algorithm": "popular", "weight": "1"}  # fmt: skip


def choices() -> dict[str, Any]:
    return {
        "page_types": PAGE_TYPES,
        "positions": POSITIONS,
        "algorithms": ALGORITHMS,
        "statuses": STATUSES,
        "max_variants": MAX_VARIANTS,
    }


def actor(ctx: AdminContext) -> str:
    """Who a change's history row names: the dashboard user (staff, not a contact)."""
    return f"admin:{ctx.user.email}"


async def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await run_in_threadpool(lambda: fn(*args, **kwargs))


def _missing(exc: NotFound) -> AdminPageError:
    return AdminPageError(404, "Not found", f"{exc.message[:1].upper()}{exc.message[1:]}.")


async def _block(service: RecommendationService, site_id: str, block_id: int) -> Block:
    """The site's block, or the 404 page (deleted blocks are not found)."""
    try:
        if not 1 <= block_id <= MAX_BLOCK_ID:  # the column's range: nothing is stored beyond
            raise NotFound(f"block {block_id} was not found", "block_id")
        return await _call(service.blocks.get, site_id, block_id)
    except NotFound as exc:
        raise _missing(exc) from None


async def _changed(service: RecommendationService, ctx: AdminContext, block_id: int) -> Response:
    await _call(service.refresh_blocks, ctx.site_id)
    return see_other(f"/admin/sites/{ctx.site_id}/blocks/{block_id}")


async def block_page(
    request: Request,
    ctx: AdminContext,
    block: Block,
    forms: dict[str, FormState] | None = None,
    status_code: int = 200,
) -> Response:
    """The block's page; ``forms`` holds a refused form's text and errors, shown in place."""
    service = service_of(request)
    history = await _call(service.blocks.history, ctx.site_id, block.block_id)
    shown = {
        "block": FormState(block_values(block)),
        "status": FormState(),
        "add_variant": FormState({"algorithm": "popular", "weight": "1"}),
    }
    for variant in block.variants:
        shown[f"variant_{variant.variant_id}"] = FormState(variant_values(variant))
    shown.update(forms or {})
    context = {"block": block, "forms": shown, "history": history[::-1], **choices()}
    return render(request, ctx, "blocks/block.html", context, status_code=status_code)


@router.get(BASE, name="admin_blocks")
async def list_blocks(request: Request, ctx: SitePage) -> Response:
    blocks = await _call(service_of(request).blocks.list_blocks, ctx.site_id)
    recent = await _call(recent_summaries, ctx.services.engine, ctx.site_id, blocks)
    deleted = request.query_params.get("deleted", "")
    shown = deleted if deleted.isascii() and deleted.isdigit() and len(deleted) <= 10 else None
    context = {"blocks": blocks, "recent": recent, "deleted": shown}
    return render(request, ctx, "blocks/list.html", context)


@router.get(BASE + "/new", name="admin_block_new")
async def new_block(request: Request, ctx: SitePage) -> Response:
    context = {"form": FormState(dict(NEW_BLOCK)), **choices()}
    return render(request, ctx, "blocks/new.html", context)


@router.post(BASE, name="admin_block_create")
async def create_block(request: Request, ctx: SiteForm) -> Response:
    service = service_of(request)
    form = FormState()
    try:
        form.read(await request.form(), BLOCK_INPUTS + VARIANT_INPUTS)
        fields, variant = block_fields(form.values), variant_spec(form.values)
        block = await _call(service.blocks.create, ctx.site_id, fields, [variant], actor=actor(ctx))
    except ShoptrackError as exc:
        context = {"form": form.refused(exc, BLOCK_INPUTS + VARIANT_INPUTS), **choices()}
        return render(request, ctx, "blocks/new.html", context, status_code=400)
    return await _changed(service, ctx, block.block_id)


@router.get(ONE, name="admin_block")
async def show_block(request: Request, ctx: SitePage, block_id: int) -> Response:
    block = await _block(service_of(request), ctx.site_id, block_id)
    return await block_page(request, ctx, block)


async def _change(
    request: Request,
    ctx: AdminContext,
    block_id: int,
    form_key: str,
    inputs: tuple[str, ...],
    apply: Callable[[RecommendationService, dict[str, str]], Any],
) -> Response:
    """One form's change of a block: done and 303, or the block page with the form refused."""
    service = service_of(request)
    block = await _block(service, ctx.site_id, block_id)
    form = FormState()
    try:
        form.read(await request.form(), inputs)
        await run_in_threadpool(apply, service, form.values)
    except NotFound as exc:
        raise _missing(exc) from None
    except ShoptrackError as exc:
        forms = {form_key: form.refused(exc, inputs)}
        return await block_page(request, ctx, block, forms, status_code=400)
    return await _changed(service, ctx, block_id)


@router.post(ONE, name="admin_block_update")
async def update_block(request: Request, ctx: SiteForm, block_id: int) -> Response:
    def apply(service: RecommendationService, values: dict[str, str]) -> Any:
        fields = {"name": f"Block {block_id}", **block_fields(values)}  # emptied: as created
        return service.blocks.update(ctx.site_id, block_id, fields, actor=actor(ctx))

    return await _change(request, ctx, block_id, "block", BLOCK_INPUTS, apply)


@router.post(ONE + "/status", name="admin_block_status")
async def set_status(request: Request, ctx: SiteForm, block_id: int) -> Response:
    def apply(service: RecommendationService, values: dict[str, str]) -> Any:
        status = values["status"]
        return service.blocks.set_status(ctx.site_id, block_id, status, actor=actor(ctx))

    return await _change(request, ctx, block_id, "status", ("status",), apply)


@router.post(ONE + "/variants", name="admin_variant_add")
async def add_variant(request: Request, ctx: SiteForm, block_id: int) -> Response:
    def apply(service: RecommendationService, values: dict[str, str]) -> Any:
        spec = variant_spec(values)
        return service.blocks.add_variant(
            ctx.site_id, block_id, spec["algorithm"], spec["params"], spec["weight"],
            actor=actor(ctx),
        )  # fmt: skip

    return await _change(request, ctx, block_id, "add_variant", VARIANT_INPUTS, apply)


@router.post(ONE + "/variants/{variant_id:int}", name="admin_variant_update")
async def update_variant(
    request: Request, ctx: SiteForm, block_id: int, variant_id: int
) -> Response:
    def apply(service: RecommendationService, values: dict[str, str]) -> Any:
        if not 1 <= variant_id <= MAX_BLOCK_ID:
            raise NotFound(f"variant {variant_id} of block {block_id} was not found")
        return service.blocks.update_variant(
            ctx.site_id, block_id, variant_id, weight=weight_of(values["weight"]),
            params=json_object(values["params"], "params"), actor=actor(ctx),
        )  # fmt: skip

    key = f"variant_{variant_id}"
    return await _change(request, ctx, block_id, key, ("weight", "params"), apply)


@router.get(ONE + "/delete", name="admin_block_delete")
async def confirm_delete(request: Request, ctx: SitePage, block_id: int) -> Response:
    block = await _block(service_of(request), ctx.site_id, block_id)
    return render(request, ctx, "blocks/delete.html", {"block": block})


@router.post(ONE + "/delete", name="admin_block_delete_confirmed")
async def delete_block(request: Request, ctx: SiteForm, block_id: int) -> Response:
    service = service_of(request)
    await _block(service, ctx.site_id, block_id)
    try:
        await _call(service.blocks.delete, ctx.site_id, block_id, actor=actor(ctx))
    except NotFound as exc:  # deleted meanwhile
        raise _missing(exc) from None
    await _call(service.refresh_blocks, ctx.site_id)
    return see_other(f"/admin/sites/{ctx.site_id}/blocks?deleted={block_id}")


@router.get(ONE + "/preview", name="admin_block_preview")
async def preview(request: Request, ctx: SitePage, block_id: int) -> Response:
    """What ``/recs`` answers for one of the block's variants on a product page."""
    service = service_of(request)
    block = await _block(service, ctx.site_id, block_id)
    q = request.query_params
    product = (q.get("product") or "").strip()[:255]
    chosen = q.get("variant") or (block.variants[0].ident if block.variants else "")
    variant = next((v for v in block.variants if v.ident == chosen), None)
    products: list[dict[str, Any]] = []
    problem = None
    if variant is None:
        problem = "choose one of the block's variants"
    elif "\x00" in product:
        problem = "a product key cannot contain NUL"
    else:
        try:
            products = await _call(
                service.recommend, ctx.site_id, variant.ident, products=[product] if product else []
            )
        except VariantNotFound as exc:
            problem = exc.message
    context = {"block": block, "product": product, "variant": chosen, "products": products,
               "problem": problem}  # fmt: skip
    return render(request, ctx, "blocks/preview.html", context)


router.include_router(report_router)  # its page sits under the blocks, as /blocks/report
