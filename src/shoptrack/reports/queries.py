"""The block report: daily counts per block and variant, with the rates computed on read.

* CTR = clicks / impressions (block views);
* conversion = purchases / impressions (the whole funnel), ``click_conversion`` = purchases /
  clicks;
* AOV = revenue / purchases.

``purchases``, ``items`` and ``revenue`` are direct: the order lines whose products came from
the block. ``assisted_purchases`` and ``assisted_revenue`` are the orders the block took part
in (a product from it, or a session that came through it), each with its whole value; so
``assisted_purchases >= purchases``. A rate whose denominator is 0 is ``null``. Revenue adds
the prices as the shop sent them (one currency per shop is assumed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import Engine, func, select

from shoptrack.reports.ids import BlockRef, variant_name
from shoptrack.store.tables import report_block_daily as D

COUNTS = (
    "impressions",
    "product_impressions",
    "clicks",
    "add_to_carts",
    "purchases",
    "assisted_purchases",
)
AMOUNTS = ("items", "revenue", "assisted_revenue")


def _ratio(numerator: float, denominator: float, digits: int = 6) -> float | None:
    return round(numerator / denominator, digits) if denominator else None


def with_rates(row: dict[str, Any]) -> dict[str, Any]:
    row["ctr"] = _ratio(row["clicks"], row["impressions"])
    row["conversion"] = _ratio(row["purchases"], row["impressions"])
    row["click_conversion"] = _ratio(row["purchases"], row["clicks"])
    row["aov"] = _ratio(row["revenue"], row["purchases"], 2)
    row["items"] = round(row["items"], 3)
    row["revenue"] = round(row["revenue"], 2)
    row["assisted_revenue"] = round(row["assisted_revenue"], 2)
    return row


def _shape(values: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in COUNTS:
        out[name] = int(values[name] or 0)
    for name in AMOUNTS:
        out[name] = float(values[name] or 0.0)
    return out


def _where(site_id: str, day_from: date, day_to: date, block_id: int | None) -> list[Any]:
    where = [D.c.site_id == site_id, D.c.day >= day_from.isoformat(), D.c.day <= day_to.isoformat()]
    if block_id is not None:
        where.append(D.c.block_id == str(block_id))
    return where


def block_report(
    engine: Engine,
    site_id: str,
    day_from: date,
    day_to: date,
    block_id: int | None = None,
    *,
    with_days: bool = True,
) -> dict[str, Any]:
    """Rows per day, block and variant (``days``) and their sums over the range (``totals``);
    ``with_days=False`` leaves ``days`` empty (a reader of the sums only).

    Block ids are stored as the digits events carry; the API answers them as numbers, as
    ``/api/v1/blocks`` does."""
    where = _where(site_id, day_from, day_to, block_id)
    columns = [D.c[name] for name in COUNTS + AMOUNTS]
    daily = (
        select(D.c.day, D.c.block_id, D.c.variant_id, *columns)
        .where(*where)
        .order_by(D.c.day, D.c.block_id, D.c.variant_id)
    )
    summed = (
        select(
            D.c.block_id,
            D.c.variant_id,
            *[func.sum(column).label(column.name) for column in columns],
        )
        .where(*where)
        .group_by(D.c.block_id, D.c.variant_id)
    )
    with engine.connect() as conn:
        days = [
            with_rates(
                {
                    "day": r.day,
                    "block_id": int(r.block_id),
                    # The variant's id as blocks and /recs name it (``r12v34``); ``variant``
                    # is the same id, kept for clients that read it by that name.
                    "variant_id": variant_name(BlockRef(r.block_id, r.variant_id)),
                    "variant": variant_name(BlockRef(r.block_id, r.variant_id)),
                    **_shape(r._mapping),
                }
            )
            for r in (conn.execute(daily) if with_days else ())
        ]
        totals = [
            with_rates(
                {
                    "block_id": int(r.block_id),
                    # The variant's id as blocks and /recs name it (``r12v34``); ``variant``
                    # is the same id, kept for clients that read it by that name.
                    "variant_id": variant_name(BlockRef(r.block_id, r.variant_id)),
                    "variant": variant_name(BlockRef(r.block_id, r.variant_id)),
                    **_shape(r._mapping),
                }
            )
            for r in conn.execute(summed)
        ]
    # Numeric ids sort as numbers (block 9 before block 10).
    totals.sort(key=lambda t: (t["block_id"], variant_order(t["variant_id"])))
    days.sort(key=lambda d: (d["day"], d["block_id"], variant_order(d["variant_id"])))
    return {
        "from": day_from.isoformat(),
        "to": day_to.isoformat(),
        "days": days,
        "totals": totals,
    }


def variant_order(variant: str) -> tuple[int, str]:
    """``r12v34`` sorts by its variant number; any other id after the numbered ones."""
    number = variant.rpartition("v")[2]
    return (int(number), "") if number.isdigit() else (2**63, variant)


def daily_funnel(
    engine: Engine, site_id: str, day_from: date, day_to: date, block_id: int | None = None
) -> dict[int, dict[str, tuple[int, ...]]]:
    """Per block and day, the funnel summed over the block's variants: ``{block: {day:
    (impressions, clicks, add_to_carts, purchases)}}`` (days without rows left out)."""
    funnel = ("impressions", "clicks", "add_to_carts", "purchases")
    stmt = (
        select(D.c.block_id, D.c.day, *[func.sum(D.c[name]).label(name) for name in funnel])
        .where(*_where(site_id, day_from, day_to, block_id))
        .group_by(D.c.block_id, D.c.day)
    )
    out: dict[int, dict[str, tuple[int, ...]]] = {}
    with engine.connect() as conn:
        for row in conn.execute(stmt):
            counts = tuple(int(row._mapping[name] or 0) for name in funnel)
            out.setdefault(int(row.block_id), {})[row.day] = counts
    return out
