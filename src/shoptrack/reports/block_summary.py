"""One block's report over a period: per-variant totals (zeros for a variant with no rows),
the block's own sum, the A/B verdict and its daily series, from :func:`queries.block_report`.

The block's variants come from the caller (the recommendation package, beside this one, owns
them): a variant that was never shown still gets a row, and the control is the oldest one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from shoptrack.reports.queries import AMOUNTS, COUNTS, variant_order, with_rates
from shoptrack.reports.verdict import BlockVerdict, Counts, block_verdict

FUNNEL = ("impressions", "clicks", "add_to_carts", "purchases")


@dataclass(frozen=True, slots=True)
class BlockSummary:
    block_id: int
    variants: tuple[dict[str, Any], ...]  # total rows with rates, oldest variant first
    total: dict[str, Any]  # the block's sum, with rates
    verdict: BlockVerdict
    days: tuple[str, ...]  # every day of the period, YYYY-MM-DD
    daily: Mapping[str, tuple[float, ...]]  # a FUNNEL count → the block's value per day


def empty_row(block_id: int, variant_id: str) -> dict[str, Any]:
    row: dict[str, Any] = {"block_id": block_id, "variant_id": variant_id, "variant": variant_id}
    row.update(dict.fromkeys(COUNTS, 0))
    row.update(dict.fromkeys(AMOUNTS, 0.0))
    return with_rates(row)


def period_days(first: date, last: date) -> tuple[str, ...]:
    return tuple((first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1))


def _summed(block_id: int, name: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    total = empty_row(block_id, name)
    for row in rows:
        for key in COUNTS + AMOUNTS:
            total[key] += row[key]
    return with_rates(total)


def funnel_by_day(report: Mapping[str, Any], block_id: int) -> dict[str, tuple[float, ...]]:
    """The block's :data:`FUNNEL` per day from a report's ``days`` rows (the shape
    ``queries.daily_funnel`` gives straight from the store)."""
    out: dict[str, list[float]] = {}
    for row in report["days"]:
        if row["block_id"] == block_id:
            sums = out.setdefault(row["day"], [0.0] * len(FUNNEL))
            for n, name in enumerate(FUNNEL):
                sums[n] += row[name]
    return {day: tuple(values) for day, values in out.items()}


def summarize(
    report: Mapping[str, Any],
    block_id: int,
    variant_ids: Sequence[str],
    funnel: Mapping[str, Sequence[float]] | None = None,
) -> BlockSummary:
    """The block's part of ``report`` (a :func:`block_report` answer); ``variant_ids`` are its
    variants as ``r{block}v{variant}``. Rows for variants the block no longer names (a shop
    may send any number) are listed after its own, outside the verdict. ``funnel``: the
    block's :data:`FUNNEL` per day (default: from the report's ``days``)."""
    found = {r["variant_id"]: r for r in report["totals"] if r["block_id"] == block_id}
    own = sorted(dict.fromkeys(variant_ids), key=variant_order)
    rows = [found.get(v) or empty_row(block_id, v) for v in own]
    rows += [found[v] for v in sorted(found, key=variant_order) if v not in own]
    arms = [
        (r["variant_id"], Counts(r["impressions"], r["clicks"], r["purchases"]))
        for r in rows
        if r["variant_id"] in own
    ]
    days = period_days(date.fromisoformat(report["from"]), date.fromisoformat(report["to"]))
    per_day = funnel if funnel is not None else funnel_by_day(report, block_id)
    zero = (0.0,) * len(FUNNEL)
    daily = {
        name: tuple(float(per_day.get(day, zero)[n]) for day in days)
        for n, name in enumerate(FUNNEL)
    }
    return BlockSummary(
        block_id=block_id,
        variants=tuple(rows),
        total=_summed(block_id, f"block {block_id}", rows),
        verdict=block_verdict(arms),
        days=days,
        daily=daily,
    )


def reported_blocks(report: Mapping[str, Any]) -> list[int]:
    """Block ids with rows in the report (a deleted block's stay reported)."""
    return sorted({int(r["block_id"]) for r in report["totals"]})
