"""Overview: is tracking installed, what arrives, what never did, and the snippet to paste.

Every figure comes from the ``analytics`` processor's tables (``analytics/queries.py``), so
the page costs a few indexed reads whatever the size of the log.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from shoptrack.analytics.days import today
from shoptrack.analytics.queries import TrackingStatus, tracking_status
from shoptrack.analytics.snippets import SNIPPETS, loader
from shoptrack.web.admin.pages import SitePage, render
from shoptrack.web.hosts import TrustedHosts
from shoptrack.web.scripts import public_base

router = APIRouter()


def _read(engine: Engine, site_id: str) -> TrackingStatus:
    with engine.connect() as conn:
        return tracking_status(conn, site_id, today())


@router.get("/admin/sites/{site_id}/overview", name="admin_overview")
async def overview(request: Request, ctx: SitePage) -> HTMLResponse:
    status = await run_in_threadpool(_read, ctx.services.engine, ctx.site_id)
    settings = ctx.settings
    base = public_base(request, settings, TrustedHosts.from_settings(settings))
    script_base = f"{base}/{settings.script_path.strip('/')}/"
    missing = [(kind, SNIPPETS[kind]) for kind in status.never_seen if kind in SNIPPETS]
    return render(
        request,
        ctx,
        "overview/overview.html",
        {"status": status, "missing": missing, "loader": loader(script_base, ctx.site_id)},
    )
