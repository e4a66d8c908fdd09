"""One block's part of the block report: zero rows, sums, the verdict's arms, daily series."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, insert

from shoptrack.reports.block_summary import empty_row, reported_blocks, summarize
from shoptrack.reports.queries import block_report, daily_funnel, with_rates
from shoptrack.store.tables import report_block_daily


def _row(block: int, variant: str, day: str | None = None, **counts: float) -> dict:
    row = empty_row(block, variant)
    row.update(counts)
    if day is not None:
        row["day"] = day
    return with_rates(row)


REPORT = {
    "from": "2026-11-01",
    "to": "2026-11-03",
    "days": [
        _row(1, "r1v1", "2026-11-01", impressions=100, clicks=10, purchases=1, revenue=20.0),
        _row(1, "r1v9", "2026-11-03", impressions=50, clicks=5),
        _row(2, "r2v3", "2026-11-02", impressions=7),
    ],
    "totals": [
        _row(1, "r1v1", impressions=100, clicks=10, purchases=1, revenue=20.0),
        _row(1, "r1v9", impressions=50, clicks=5),
        _row(2, "r2v3", impressions=7),
    ],
}


def test_every_variant_of_the_block_has_a_row_oldest_first() -> None:
    summary = summarize(REPORT, 1, ["r1v10", "r1v1", "r1v2"])
    names = [r["variant_id"] for r in summary.variants]
    assert names == ["r1v1", "r1v2", "r1v10", "r1v9"]  # r1v9: reported, no longer the block's
    assert summary.variants[1]["impressions"] == 0
    assert summary.variants[1]["ctr"] is None
    assert summary.verdict.control == "r1v1"
    assert [c.variant for c in summary.verdict.comparisons] == ["r1v2", "r1v10"]


def test_the_block_total_sums_its_rows_with_rates() -> None:
    total = summarize(REPORT, 1, ["r1v1"]).total
    assert (total["impressions"], total["clicks"], total["purchases"]) == (150, 15, 1)
    assert total["ctr"] == 0.1
    assert total["aov"] == 20.0


def test_daily_series_cover_every_day_of_the_period() -> None:
    summary = summarize(REPORT, 1, ["r1v1"])
    assert summary.days == ("2026-11-01", "2026-11-02", "2026-11-03")
    assert summary.daily["impressions"] == (100.0, 0.0, 50.0)
    assert summary.daily["purchases"] == (1.0, 0.0, 0.0)


def test_reported_blocks() -> None:
    assert reported_blocks(REPORT) == [1, 2]


def test_the_stores_per_day_funnel_sums_a_blocks_variants(engine: Engine) -> None:
    rows = [
        ("2026-11-01", "1", "1", 100, 10, 4, 1),
        ("2026-11-01", "1", "2", 50, 5, 2, 1),
        ("2026-11-03", "1", "1", 30, 3, 0, 0),
        ("2026-11-02", "2", "3", 7, 0, 0, 0),
        ("2026-10-31", "1", "1", 999, 0, 0, 0),  # before the period
    ]
    with engine.begin() as conn:
        for day, block, variant, impressions, clicks, carts, purchases in rows:
            conn.execute(
                insert(report_block_daily).values(
                    site_id="s1", day=day, block_id=block, variant_id=variant,
                    impressions=impressions, clicks=clicks, add_to_carts=carts,
                    purchases=purchases,
                )
            )  # fmt: skip
    first, last = date(2026, 11, 1), date(2026, 11, 3)
    funnel = daily_funnel(engine, "s1", first, last)
    assert funnel == {
        1: {"2026-11-01": (150, 15, 6, 2), "2026-11-03": (30, 3, 0, 0)},
        2: {"2026-11-02": (7, 0, 0, 0)},
    }
    assert daily_funnel(engine, "s1", first, last, block_id=2) == {2: funnel[2]}
    report = block_report(engine, "s1", first, last, with_days=False)
    assert report["days"] == []
    summary = summarize(report, 1, ["r1v1", "r1v2"], funnel[1])
    assert summary.daily["impressions"] == (150.0, 0.0, 30.0)
    assert summary.total["impressions"] == 180
    with_days = block_report(engine, "s1", first, last)
    assert summarize(with_days, 1, ["r1v1", "r1v2"]).daily == summary.daily
