"""Segments pages: the site's segments with their counts, one built from a JSON definition
(previewed before it is saved), a segment's members, history and webhook, and its deletion.

Everything goes through ``segments.service.SegmentService``, as ``/api/v1/segments`` does;
the definition's own validation names the field at fault, shown beside the form.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from shoptrack.errors import NotFound, Reason, ShoptrackError
from shoptrack.segments.service import SegmentService
from shoptrack.web.admin.charts import Series, line_chart
from shoptrack.web.admin.pages import (
    AdminContext,
    AdminPageError,
    SiteForm,
    SitePage,
    render,
    see_other,
)

router = APIRouter()
BASE = "/admin/sites/{site_id}/segments"
ONE = BASE + "/{segment_id:int}"
CHART_DAYS = 30

EXAMPLES: dict[str, dict[str, Any]] = {
    "Carted in the last 30 days, bought nothing": {"version": 1, "match": {"all": [
        {"condition": "event", "event": "carted", "within_days": 30},
        {"condition": "event", "event": "purchased", "within_days": 30,
         "count": {"op": "=", "value": 0}}]}},
    "Two orders or more in 90 days": {"version": 1, "match": {
        "condition": "orders", "metric": "count", "op": ">=", "value": 2, "within_days": 90}},
    "Abandoned cart, with an e-mail address": {"version": 1, "match": {"all": [
        {"condition": "abandoned_cart", "after_hours": 1, "within_days": 7},
        {"condition": "contact", "is": "has_email"}]}},
}  # fmt: skip


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _service(ctx: AdminContext) -> SegmentService:
    return SegmentService(ctx.services.engine, ctx.services.keyring)


def _parse(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        message = f"definition: not valid JSON ({exc})"
        raise ShoptrackError(Reason.INVALID_JSON, message, "definition") from None


def _path(request: Request, name: str, **params: Any) -> str:
    return str(request.app.url_path_for(name, **{k: str(v) for k, v in params.items()}))


async def _list_page(
    request: Request, ctx: AdminContext, form: dict[str, str], **extra: Any
) -> Response:
    segments = await run_in_threadpool(_service(ctx).all, ctx.site_id)
    data = {
        "error": None,
        "error_field": None,
        "preview": None,
        "segments": segments,
        "form": form,
        "examples": {name: _pretty(value) for name, value in EXAMPLES.items()},
        **extra,
    }
    status = 400 if extra.get("error") else 200
    return render(request, ctx, "segments/list.html", data, status_code=status)


def _form_of(raw: Any) -> dict[str, str]:
    return {
        "name": str(raw.get("name", ""))[:200],
        "definition": str(raw.get("definition", ""))[:20_000],
    }


@router.get(BASE, name="admin_segments")
async def segments_page(request: Request, ctx: SitePage) -> Response:
    first = next(iter(EXAMPLES.values()))
    return await _list_page(request, ctx, {"name": "", "definition": _pretty(first)})


@router.post(BASE + "/preview", name="admin_segment_preview")
async def preview(request: Request, ctx: SiteForm) -> Response:
    form = _form_of(await request.form())
    try:
        definition = _parse(form["definition"])
        result = await run_in_threadpool(_service(ctx).preview, ctx.site_id, definition, 20)
    except ShoptrackError as exc:
        return await _list_page(request, ctx, form, error=exc.message, error_field=exc.field)
    return await _list_page(request, ctx, form, preview=result)


@router.post(BASE, name="admin_segment_create")
async def create(request: Request, ctx: SiteForm) -> Response:
    form = _form_of(await request.form())
    try:
        definition = _parse(form["definition"])
        made = await run_in_threadpool(_service(ctx).create, ctx.site_id, form["name"], definition)
    except ShoptrackError as exc:
        return await _list_page(request, ctx, form, error=exc.message, error_field=exc.field)
    return see_other(
        _path(request, "admin_segment", site_id=ctx.site_id, segment_id=made.segment_id)
    )


def _daily_counts(counts: list[dict[str, Any]], today: date) -> tuple[list[str], list[float]]:
    """The count at the end of each of the last CHART_DAYS days (carried over days without a
    change)."""
    by_day: OrderedDict[str, float] = OrderedDict()
    for row in counts:
        by_day[str(row["at"])[:10]] = float(row["members"])
    days = [(today - timedelta(days=n)).isoformat() for n in range(CHART_DAYS - 1, -1, -1)]
    values: list[float] = []
    last = 0.0
    earlier = [v for d, v in by_day.items() if d < days[0]]
    if earlier:
        last = earlier[-1]
    for day in days:
        last = by_day.get(day, last)
        values.append(last)
    return days, values


async def _segment_page(
    request: Request, ctx: AdminContext, segment_id: int, **extra: Any
) -> Response:
    service = _service(ctx)
    try:
        history = await run_in_threadpool(service.history, ctx.site_id, segment_id, 50)
        members = await run_in_threadpool(service.contacts_page, ctx.site_id, segment_id, None, 50)
    except NotFound:
        raise AdminPageError(404, "Not found", f"There is no segment {segment_id}.") from None
    days, values = _daily_counts(history["counts"], datetime.now(tz=UTC).date())
    chart = line_chart(days, [Series("members", values)], title="Members at the end of each day")
    segment = history["segment"]
    data = {
        "error": None,
        "error_field": None,
        "segment": segment,
        "definition": _pretty(segment["definition"]),
        "changes": history["changes"],
        "members": members,
        "chart": chart,
        **extra,
    }
    return render(
        request, ctx, "segments/detail.html", data, status_code=400 if extra.get("error") else 200
    )


@router.get(ONE, name="admin_segment")
async def segment_page(request: Request, ctx: SitePage, segment_id: int) -> Response:
    return await _segment_page(request, ctx, segment_id)


@router.post(ONE, name="admin_segment_update")
async def update(request: Request, ctx: SiteForm, segment_id: int) -> Response:
    raw = await request.form()
    form = _form_of(raw)
    try:
        definition = _parse(form["definition"])
        webhook = str(raw.get("webhook_url", "")).strip() or None
        await run_in_threadpool(
            lambda: _service(ctx).change(ctx.site_id, segment_id, form["name"], definition, webhook)
        )
    except NotFound:
        raise AdminPageError(404, "Not found", f"There is no segment {segment_id}.") from None
    except ShoptrackError as exc:
        return await _segment_page(
            request, ctx, segment_id, error=exc.message, error_field=exc.field, form=form
        )
    return see_other(_path(request, "admin_segment", site_id=ctx.site_id, segment_id=segment_id))


@router.get(ONE + "/delete", name="admin_segment_delete")
async def confirm_delete(request: Request, ctx: SitePage, segment_id: int) -> Response:
    try:
        segment = await run_in_threadpool(_service(ctx).get, ctx.site_id, segment_id)
    except NotFound:
        raise AdminPageError(404, "Not found", f"There is no segment {segment_id}.") from None
    return render(request, ctx, "segments/delete.html", {"segment": segment.to_json()})


@router.post(ONE + "/delete", name="admin_segment_delete_confirmed")
async def delete(request: Request, ctx: SiteForm, segment_id: int) -> Response:
    try:
        await run_in_threadpool(_service(ctx).delete, ctx.site_id, segment_id)
    except NotFound:
        raise AdminPageError(404, "Not found", f"There is no segment {segment_id}.") from None
    return see_other(_path(request, "admin_segments", site_id=ctx.site_id))
