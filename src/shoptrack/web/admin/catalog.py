"""The Catalogue pages: feeds (add, import now, delete) and their import reports.

Everything goes through what the API and the CLI use (``CatalogService``: the feed repository,
the shared import threads, the catalogue's readers): the dashboard is one more way in, not a
second implementation. A feed added here is an http(s) address, as through the API: a signed-in
user may not make the server read its own files (the CLI, run on the server, may).
The products and a product's history are in ``catalog_products.py``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from shoptrack.catalog.feeds import STATUS_NOT_MODIFIED, STATUS_RUNNING, Feed
from shoptrack.catalog.sources import private_feed_warning
from shoptrack.errors import Conflict, ShoptrackError
from shoptrack.web.admin.catalog_products import router as products_router
from shoptrack.web.admin.formdata import checked, form_text
from shoptrack.web.admin.pages import (
    AdminContext,
    AdminPageError,
    SiteForm,
    SitePage,
    render,
    see_other,
)

router = APIRouter()
router.include_router(products_router)
RECENT_IMPORTS = 10
FEED_ID = re.compile(r"fd_[0-9a-f]{1,29}")
SCHEDULE_EXAMPLES = "hourly, daily@03:00, weekly, weekly@mon@03:00, every 6h"


def _overview(ctx: AdminContext) -> dict[str, Any]:
    catalog = ctx.catalog
    feeds = catalog.feeds.list_feeds(ctx.site_id)
    return {
        "feeds": feeds,
        "imports": catalog.queries.recent_imports(ctx.site_id, RECENT_IMPORTS),
        "feed_urls": {f.feed_id: f.url for f in feeds},
    }


async def _catalog_page(
    request: Request,
    ctx: AdminContext,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    warning: str | None = None,
    status_code: int = 200,
) -> Response:
    data = await run_in_threadpool(_overview, ctx)
    return render(
        request,
        ctx,
        "catalog/index.html",
        {
            **data,
            "form": form or {},
            "errors": errors or {},
            "notice": notice,
            "warning": warning,
            "schedule_examples": SCHEDULE_EXAMPLES,
            "running": STATUS_RUNNING,
        },
        status_code=status_code,
    )


@router.get("/admin/sites/{site_id}/catalog", name="admin_catalog")
async def catalog_page(
    request: Request, ctx: SitePage, added: str | None = None, deleted: str | None = None
) -> Response:
    notice = warning = None
    if added:
        feed = await run_in_threadpool(ctx.catalog.feeds.get, ctx.site_id, added[:32])
        if feed is not None:
            notice = f"Feed {feed.feed_id} added."
            # Said once, after adding: it resolves the host, which a listing should not do.
            allowed = ctx.settings.feed_allow_private_hosts
            warning = await run_in_threadpool(private_feed_warning, feed.url, allowed)
    elif deleted and FEED_ID.fullmatch(deleted):  # a link cannot make the page say anything
        notice = f"Feed {deleted} deleted."
    return await _catalog_page(request, ctx, notice=notice, warning=warning)


@router.post("/admin/sites/{site_id}/catalog/feeds", name="admin_catalog_feed_add")
async def add_feed(request: Request, ctx: SiteForm) -> Response:
    form = await request.form()
    url = schedule = ""
    try:
        url = form_text(form, "url", 4096)
        schedule = form_text(form, "schedule", 64)
        feed = await run_in_threadpool(
            ctx.catalog.feeds.add, ctx.site_id, url, schedule or None, allow_files=False
        )
    except ShoptrackError as exc:
        errors = {exc.field or "url": exc.message}
        given = {"url": url, "schedule": schedule}
        return await _catalog_page(request, ctx, form=given, errors=errors, status_code=400)
    target = request.app.url_path_for("admin_catalog", site_id=ctx.site_id)
    return see_other(f"{target}?added={feed.feed_id}")


async def _feed(ctx: AdminContext, feed_id: str) -> Feed:
    feed = await run_in_threadpool(ctx.catalog.feeds.get, ctx.site_id, feed_id[:32])
    if feed is None:
        raise AdminPageError(404, "Not found", "This site has no such feed (any more).")
    return feed


@router.post(
    "/admin/sites/{site_id}/catalog/feeds/{feed_id}/import", name="admin_catalog_feed_import"
)
async def import_feed(request: Request, ctx: SiteForm, feed_id: str) -> Response:
    feed = await _feed(ctx, feed_id)
    form = await request.form()
    # ``force``: fetch again whatever the feed's ETag / Last-Modified say (as the API's).
    force = checked(form, "force")
    # Queued like the API's import: on the shared threads, one import of a site at a time.
    import_id = await run_in_threadpool(ctx.catalog.import_in_background, feed, force=force)
    return see_other(
        request.app.url_path_for("admin_catalog_import", site_id=ctx.site_id, import_id=import_id)
    )


@router.get(
    "/admin/sites/{site_id}/catalog/feeds/{feed_id}/delete", name="admin_catalog_feed_delete"
)
async def confirm_delete(request: Request, ctx: SitePage, feed_id: str) -> Response:
    feed = await _feed(ctx, feed_id)
    return render(request, ctx, "catalog/delete.html", {"feed": feed, "error": None})


@router.post("/admin/sites/{site_id}/catalog/feeds/{feed_id}/delete")
async def delete_feed(request: Request, ctx: SiteForm, feed_id: str) -> Response:
    feed = await _feed(ctx, feed_id)
    form = await request.form()
    purge = checked(form, "purge")
    try:
        await run_in_threadpool(ctx.catalog.feeds.delete, ctx.site_id, feed.feed_id, purge=purge)
    except Conflict as exc:
        context = {"feed": feed, "error": exc.message}
        return render(request, ctx, "catalog/delete.html", context, status_code=409)
    target = request.app.url_path_for("admin_catalog", site_id=ctx.site_id)
    return see_other(f"{target}?deleted={feed.feed_id}")


@router.get("/admin/sites/{site_id}/catalog/imports/{import_id}", name="admin_catalog_import")
async def import_page(
    request: Request, ctx: SitePage, import_id: str, live: bool = False
) -> Response:
    record = await run_in_threadpool(ctx.catalog.queries.import_record, ctx.site_id, import_id[:32])
    if record is None:
        raise AdminPageError(404, "Not found", "This site has no such import (any more).")
    feed = await run_in_threadpool(ctx.catalog.feeds.get, ctx.site_id, record["feed_id"])
    running = record["status"] == STATUS_RUNNING
    context = {
        "record": record,
        "feed": feed,
        "running": running,
        "live": live and running,
        "not_modified": record["status"] == STATUS_NOT_MODIFIED,
    }
    return render(request, ctx, "catalog/import.html", context)
