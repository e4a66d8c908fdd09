"""The trigger report: per rule and UTC day of the send, with the rates computed on read.

* ``sent``: messages whose send succeeded that day (``trigger_messages``, by its
  ``(site_id, sent_at)`` index: the site's messages of the range, never the event log);
* ``clicked``, ``orders``, ``revenue``: the ``trigger_reports`` processor's daily rows
  (``report.py`` says what counts);
* ``click_rate`` = clicked / sent, ``conversion`` = orders / sent, ``revenue_per_message`` =
  revenue / sent; ``null`` when nothing was sent.

``totals`` sums each rule over the range; ``total`` sums every rule.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from shoptrack.reports.attribution import DAY_MS
from shoptrack.store.tables import trigger_messages as M
from shoptrack.store.tables import trigger_report_daily as D
from shoptrack.triggers.model import MessageStatus

FIELDS = ("sent", "clicked", "orders", "revenue")


def _ratio(numerator: float, denominator: float, digits: int = 6) -> float | None:
    return round(numerator / denominator, digits) if denominator else None


def _midnight_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def with_rates(row: dict[str, Any]) -> dict[str, Any]:
    row["revenue"] = round(row["revenue"], 2)
    row["click_rate"] = _ratio(row["clicked"], row["sent"])
    row["conversion"] = _ratio(row["orders"], row["sent"])
    row["revenue_per_message"] = _ratio(row["revenue"], row["sent"], 2)
    return row


def _empty() -> dict[str, Any]:
    return {"sent": 0, "clicked": 0, "orders": 0, "revenue": 0.0}


def trigger_report(
    engine: Engine, site_id: str, day_from: date, day_to: date, rule: str | None = None
) -> dict[str, Any]:
    """Rows per day and rule (``days``), their sums per rule (``totals``) and overall."""
    start, end = _midnight_ms(day_from), _midnight_ms(day_to) + DAY_MS
    day_number = (M.c.sent_at // DAY_MS).label("day_number")
    sent = (
        select(day_number, M.c.rule, func.count().label("sent"))
        .where(
            M.c.site_id == site_id,
            M.c.sent_at >= start,
            M.c.sent_at < end,
            M.c.status == MessageStatus.SENT.value,
        )
        .group_by(day_number, M.c.rule)
    )
    daily = select(D.c.day, D.c.rule, D.c.clicked, D.c.orders, D.c.revenue).where(
        D.c.site_id == site_id, D.c.day >= day_from.isoformat(), D.c.day <= day_to.isoformat()
    )
    if rule is not None:
        sent = sent.where(M.c.rule == rule)
        daily = daily.where(D.c.rule == rule)
    cells: dict[tuple[str, str], dict[str, Any]] = defaultdict(_empty)
    epoch = date(1970, 1, 1)
    with engine.connect() as conn:
        for r in conn.execute(sent):
            day = (epoch + timedelta(days=int(r.day_number))).isoformat()
            cells[(day, r.rule)]["sent"] = int(r.sent)
        for r in conn.execute(daily):
            cell = cells[(r.day, r.rule)]
            cell["clicked"] = int(r.clicked)
            cell["orders"] = int(r.orders)
            cell["revenue"] = float(r.revenue)
    per_rule: dict[str, dict[str, Any]] = defaultdict(_empty)
    overall = _empty()
    days = []
    for (day, name), cell in sorted(cells.items()):
        days.append(with_rates({"day": day, "rule": name, **cell}))
        for field in FIELDS:
            per_rule[name][field] += cell[field]
            overall[field] += cell[field]
    return {
        "from": day_from.isoformat(),
        "to": day_to.isoformat(),
        "days": days,
        "totals": [with_rates({"rule": name, **per_rule[name]}) for name in sorted(per_rule)],
        "total": with_rates(overall),
    }
