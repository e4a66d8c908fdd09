"""The block report page: per block and variant over a period, the funnel impressions →
clicks → add-to-cart → purchases, CTR, conversion, revenue, AOV, the A/B verdict (method
stated on the page) and a daily chart with the block's changes marked.

Figures come from ``reports.queries.block_report`` (pre-computed daily counts, bots left
out as everywhere in the block report) and ``reports.block_summary``; nothing is counted here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from markupsafe import Markup
from sqlalchemy import Engine
from starlette.responses import Response

from shoptrack.errors import ShoptrackError
from shoptrack.recommend.blocks import Block, BlockStore
from shoptrack.reports.block_summary import BlockSummary, reported_blocks, summarize
from shoptrack.reports.queries import block_report, daily_funnel
from shoptrack.reports.verdict import METHOD, METRIC_LABELS
from shoptrack.web.admin.charts import Mark, Series, line_chart
from shoptrack.web.admin.pages import SitePage, render
from shoptrack.web.api.params import MAX_BLOCK_ID
from shoptrack.web.api.reports import day_range
from shoptrack.web.recs import service_of

router = APIRouter()
# Two charts: impressions run some hundred times above purchases, which on one scale would
# lie flat along the axis.
CHARTS = (
    ("Impressions and clicks per day", (("impressions", "Impressions"), ("clicks", "Clicks"))),
    ("Add-to-carts and purchases per day",
     (("add_to_carts", "Add-to-carts"), ("purchases", "Purchases"))),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Section:
    """One block on the report page."""

    block_id: int
    name: str
    status: str
    summary: BlockSummary
    changes: tuple[Mark, ...]  # the block's changes in the period
    charts: tuple[Markup, ...]  # one per CHARTS entry


def change_marks(history: list[dict[str, Any]], first: date, last: date) -> list[Mark]:
    """The block's changes inside the period (``rec_block_changes``) as marks of its chart."""
    marks = []
    for change in history:
        moment = datetime.fromisoformat(str(change["at"]).replace("Z", "+00:00"))
        day = moment.astimezone(UTC).date()
        if first <= day <= last:
            marks.append(Mark(day.isoformat(), f"v{change['version']} {change['action']}"))
    return marks


def build_sections(
    store: BlockStore,
    site_id: str,
    report: dict[str, Any],
    funnel: Mapping[int, Mapping[str, Sequence[float]]],
    blocks: list[Block],
    only: int | None,
) -> list[Section]:
    first, last = date.fromisoformat(report["from"]), date.fromisoformat(report["to"])
    known = {b.block_id: b for b in blocks}
    ids = sorted(set(known) | set(reported_blocks(report)))
    sections = []
    for block_id in ids if only is None else [i for i in ids if i == only]:
        block = known.get(block_id)
        if block is not None:
            variants = [v.ident for v in block.variants]
        else:  # deleted: its variants as the report names them (the control the lowest)
            variants = [r["variant_id"] for r in report["totals"] if r["block_id"] == block_id]
        summary = summarize(report, block_id, variants, funnel.get(block_id, {}))
        marks = change_marks(store.history(site_id, block_id), first, last)
        charts = tuple(
            line_chart(
                summary.days,
                [Series(label, summary.daily[name]) for name, label in series],
                marks=marks,
                title=f"Block {block_id}: {title[:1].lower()}{title[1:]}",
            )
            for title, series in CHARTS
        )
        name = block.name if block is not None else "deleted"
        status = block.status if block is not None else "deleted"
        sections.append(Section(block_id, name, status, summary, tuple(marks), charts))
    return sections


@router.get("/admin/sites/{site_id}/blocks/report", name="admin_blocks_report")
async def blocks_report_page(request: Request, ctx: SitePage) -> Response:
    q = request.query_params
    problem = None
    try:
        first, last = day_range(q.get("from"), q.get("to"))
    except ShoptrackError as exc:
        problem = exc.message
        first, last = day_range(None, None)
    text = (q.get("block") or "").strip()
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= 10 else 0
    only = number if 0 < number <= MAX_BLOCK_ID else None
    store = service_of(request).blocks
    engine = ctx.services.engine

    def load() -> list[Section]:
        report = block_report(engine, ctx.site_id, first, last, only, with_days=False)
        funnel = daily_funnel(engine, ctx.site_id, first, last, only)
        blocks = store.list_blocks(ctx.site_id)
        return build_sections(store, ctx.site_id, report, funnel, blocks, only)

    sections = await run_in_threadpool(load)
    context = {
        "sections": sections,
        "first": first.isoformat(),
        "last": last.isoformat(),
        "only": only,
        "problem": problem,
        "method": METHOD,
        "metric_labels": METRIC_LABELS,
    }
    return render(request, ctx, "blocks/report.html", context, status_code=400 if problem else 200)


def recent_summaries(engine: Engine, site_id: str, blocks: list[Block]) -> dict[int, BlockSummary]:
    """The last 30 days of each block, for the list of blocks (sums only, one query)."""
    first, last = day_range(None, None)
    report = block_report(engine, site_id, first, last, with_days=False)
    return {
        b.block_id: summarize(report, b.block_id, [v.ident for v in b.variants], {}) for b in blocks
    }
