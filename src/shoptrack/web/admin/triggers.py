"""The Triggers pages: each rule with its settings and its last 30 days, a rule's edit form.

The rules are read and written with ``triggers/rules.py`` as the API and CLI do (a write takes
the store's write turn, as the API's PATCH does); the figures are the trigger report's
(``triggers/report_queries.py``). Messages and their attempts are in ``trigger_messages.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from shoptrack.errors import ShoptrackError
from shoptrack.store.db import WriteTurn
from shoptrack.triggers.model import Channel, Rule
from shoptrack.triggers.report_queries import trigger_report
from shoptrack.triggers.rules import (
    MAX_CAP_DAYS,
    THRESHOLDS,
    RuleSettings,
    parse_rule,
    read_rules,
    update_rule,
)
from shoptrack.web.admin.pages import (
    AdminContext,
    AdminPageError,
    SiteForm,
    SitePage,
    render,
    see_other,
)
from shoptrack.web.admin.rule_form import (
    form_values,
    parse_changes,
    posted_values,
    threshold_field,
)
from shoptrack.web.admin.trigger_messages import router as messages_router

router = APIRouter()
router.include_router(messages_router)
REPORT_DAYS = 30


def duration_text(seconds: int) -> str:
    """A delay as it was most likely typed: 1 h, 30 min, 90 s."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _rules(ctx: AdminContext) -> dict[Rule, RuleSettings]:
    with ctx.services.engine.connect() as conn:
        return read_rules(conn, ctx.site_id)


def _report(ctx: AdminContext) -> dict[str, Any]:
    """The trigger report's totals per rule over the last ``REPORT_DAYS`` UTC days."""
    today = datetime.fromtimestamp(ctx.services.clock() / 1000, UTC).date()
    start = today - timedelta(days=REPORT_DAYS - 1)
    report = trigger_report(ctx.services.engine, ctx.site_id, start, today)
    return {"from": report["from"], "to": report["to"], "totals": report["totals"]}


@router.get("/admin/sites/{site_id}/triggers", name="admin_triggers")
async def triggers_page(request: Request, ctx: SitePage, saved: str | None = None) -> Response:
    rules = await run_in_threadpool(_rules, ctx)
    report = await run_in_threadpool(_report, ctx)
    totals = {row["rule"]: row for row in report["totals"]}
    context = {
        "rules": list(rules.values()),
        "report": report,
        "totals": totals,
        "thresholds": THRESHOLDS,
        "delays": {r: duration_text(s.delay_s) for r, s in rules.items()},
        "saved": saved if saved in {r.value for r in Rule} else None,
    }
    return render(request, ctx, "triggers/index.html", context)


def _edit_context(
    settings: RuleSettings, values: dict[str, str], errors: dict[str, str]
) -> dict[str, Any]:
    specs = THRESHOLDS.get(settings.rule, {})
    return {
        "settings": settings,
        "values": values,
        "errors": errors,
        "channels": [c.value for c in Channel],
        "max_cap_days": MAX_CAP_DAYS,
        "thresholds": [(threshold_field(name), name, spec) for name, spec in specs.items()],
    }


async def _settings(ctx: AdminContext, rule: str) -> RuleSettings:
    try:
        parsed = parse_rule(rule[:40])
    except ShoptrackError:
        raise AdminPageError(404, "Not found", "There is no such trigger rule.") from None
    rules = await run_in_threadpool(_rules, ctx)
    return rules[parsed]


@router.get("/admin/sites/{site_id}/triggers/rules/{rule}", name="admin_trigger_rule")
async def rule_page(request: Request, ctx: SitePage, rule: str) -> Response:
    settings = await _settings(ctx, rule)
    context = _edit_context(settings, form_values(settings), {})
    return render(request, ctx, "triggers/rule.html", context)


@router.post("/admin/sites/{site_id}/triggers/rules/{rule}")
async def save_rule(request: Request, ctx: SiteForm, rule: str) -> Response:
    settings = await _settings(ctx, rule)
    form = await request.form()
    changes, errors = parse_changes(settings, form)
    if errors:
        context = _edit_context(settings, posted_values(settings, form), errors)
        return render(request, ctx, "triggers/rule.html", context, status_code=400)
    engine = ctx.services.engine

    def write() -> None:
        with WriteTurn(engine)(), engine.begin() as conn:
            update_rule(conn, ctx.site_id, settings.rule, changes)

    await run_in_threadpool(write)
    target = request.app.url_path_for("admin_triggers", site_id=ctx.site_id)
    return see_other(f"{target}?saved={settings.rule.value}")
