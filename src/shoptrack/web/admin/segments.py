"""Segments pages: the site's segments with their counts, a new one built with the condition
form (or, for what the form cannot show, its JSON) and previewed before it is saved, a
segment's members (paged), count history and webhook, and its deletion.

Everything goes through ``segments.service.SegmentService``, as ``/api/v1/segments`` does;
the definition's own validation names the field at fault, shown beside the row and field
(``segment_editor.py`` holds the editor between posts, ``segment_form.py`` converts).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from shoptrack.errors import NotFound, ShoptrackError
from shoptrack.segments.definition import MAX_CONDITIONS
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
from shoptrack.web.admin.segment_editor import (
    Editor,
    definition,
    editor_for,
    editor_from_form,
    pretty,
    rearrange,
)
from shoptrack.web.admin.segment_form import field_id, new_row
from shoptrack.web.admin.segment_kinds import KINDS

router = APIRouter()
BASE = "/admin/sites/{site_id}/segments"
ONE = BASE + "/{segment_id:int}"
CHART_DAYS = 30
MEMBERS_PAGE = 50

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


def _service(ctx: AdminContext) -> SegmentService:
    return SegmentService(ctx.services.engine, ctx.services.keyring)


def _path(request: Request, name: str, **params: Any) -> str:
    return str(request.app.url_path_for(name, **{k: str(v) for k, v in params.items()}))


def _editor_data(editor: Editor) -> dict[str, Any]:
    """What templates/segments/_editor.html needs beside the editor itself."""
    return {
        "editor": editor,
        "kinds": KINDS,
        "field_id": field_id,
        "max_rows": MAX_CONDITIONS,
        "examples": {name: pretty(value) for name, value in EXAMPLES.items()},
    }


async def _list_page(request: Request, ctx: AdminContext, editor: Editor) -> Response:
    segments = await run_in_threadpool(_service(ctx).all, ctx.site_id)
    data = {"segments": segments, **_editor_data(editor)}
    status = 400 if editor.error else 200
    return render(request, ctx, "segments/list.html", data, status_code=status)


async def _act(
    ctx: AdminContext, editor: Editor, action: str, form: FormData
) -> dict[str, Any] | None:
    """Runs an editor action; ``None`` when the page is to be shown again as it now is,
    else the definition to save."""
    if rearrange(editor, action, form):
        return None
    try:
        wanted = definition(editor)
        if action == "preview":
            editor.preview = await run_in_threadpool(_service(ctx).preview, ctx.site_id, wanted, 20)
            return None
    except ShoptrackError as exc:
        editor.fail(exc)
        return None
    return {"definition": wanted}


def _action(form: FormData, default: str = "save") -> str:
    action = form.get("action")
    return action if isinstance(action, str) and action else default


@router.get(BASE, name="admin_segments")
async def segments_page(request: Request, ctx: SitePage) -> Response:
    editor = Editor()
    editor.builder.rows.append(new_row(KINDS[0].condition))
    editor.text = pretty(next(iter(EXAMPLES.values())))
    return await _list_page(request, ctx, editor)


async def _create(request: Request, ctx: AdminContext, default_action: str) -> Response:
    form = await request.form()
    editor = editor_from_form(form)
    wanted = await _act(ctx, editor, _action(form, default_action), form)
    if wanted is None:
        return await _list_page(request, ctx, editor)
    try:
        made = await run_in_threadpool(
            _service(ctx).create, ctx.site_id, editor.name, wanted["definition"]
        )
    except ShoptrackError as exc:
        editor.fail(exc)
        return await _list_page(request, ctx, editor)
    return see_other(
        _path(request, "admin_segment", site_id=ctx.site_id, segment_id=made.segment_id)
    )


@router.post(BASE + "/preview", name="admin_segment_preview")
async def preview(request: Request, ctx: SiteForm) -> Response:
    return await _create(request, ctx, "preview")


@router.post(BASE, name="admin_segment_create")
async def create(request: Request, ctx: SiteForm) -> Response:
    return await _create(request, ctx, "save")


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
    request: Request,
    ctx: AdminContext,
    segment_id: int,
    editor: Editor | None = None,
    after: str | None = None,
) -> Response:
    service = _service(ctx)
    try:
        history = await run_in_threadpool(service.history, ctx.site_id, segment_id, 50)
        members = await run_in_threadpool(
            service.contacts_page, ctx.site_id, segment_id, after, MEMBERS_PAGE
        )
    except NotFound:
        raise AdminPageError(404, "Not found", f"There is no segment {segment_id}.") from None
    days, values = _daily_counts(history["counts"], datetime.now(tz=UTC).date())
    chart = line_chart(days, [Series("members", values)], title="Members at the end of each day")
    segment = history["segment"]
    if editor is None:
        editor = editor_for(segment["name"], segment["definition"], segment["webhook"]["url"])
    data = {
        "segment": segment,
        "changes": history["changes"],
        "members": members,
        "after": after,
        "chart": chart,
        **_editor_data(editor),
    }
    status = 400 if editor.error else 200
    return render(request, ctx, "segments/detail.html", data, status_code=status)


@router.get(ONE, name="admin_segment")
async def segment_page(
    request: Request, ctx: SitePage, segment_id: int, after: str | None = None
) -> Response:
    return await _segment_page(request, ctx, segment_id, after=after[:200] if after else None)


@router.post(ONE, name="admin_segment_update")
async def update(request: Request, ctx: SiteForm, segment_id: int) -> Response:
    form = await request.form()
    editor = editor_from_form(form)
    wanted = await _act(ctx, editor, _action(form), form)
    if wanted is None:
        return await _segment_page(request, ctx, segment_id, editor)
    try:
        await run_in_threadpool(
            lambda: _service(ctx).change(
                ctx.site_id,
                segment_id,
                editor.name,
                wanted["definition"],
                editor.webhook_url or None,
            )
        )
    except NotFound:
        raise AdminPageError(404, "Not found", f"There is no segment {segment_id}.") from None
    except ShoptrackError as exc:
        editor.fail(exc)
        return await _segment_page(request, ctx, segment_id, editor)
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
