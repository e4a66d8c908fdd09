"""When a price or stock value seen in browsers may change a known product.

Anyone can post to ``/webevent`` without a key, so one browser event is only one visitor's
report, never the truth. Each non-bot visitor's latest report per product and field is kept
in ``catalog_browser_reports``; a reported value replaces a known product's value only when
at least ``visitors`` distinct visitors reported that same value

* within ``window_ms`` up to the event being applied (the one that may complete the
  agreement; a late event whose time is older than the others' completes nothing), and
* after the product's current value was set, so reports older than the last import or
  ``ProductUpdate`` never bring a replaced value back.

Bots never report (``user_agent.is_bot``), and a visitor is one visitor however often it
sends: agreement is counted by ``visitor_id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from shoptrack.events.traffic import agent_is_bot
from shoptrack.store.sql import insert_for
from shoptrack.store.tables import catalog_browser_reports

R = catalog_browser_reports
PRICE = "price"
STOCK = "stock"
MAX_VISITOR_LENGTH = 128


@dataclass(frozen=True, slots=True)
class QuorumRule:
    visitors: int = 3
    window_ms: int = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Report:
    """One visitor's view of one field of one product."""

    key: str
    field: str  # PRICE or STOCK
    value: str
    visitor_id: str
    at: int


def price_value(price: float, currency: str | None) -> str:
    """A price as reports compare it: to 1/10000 of a unit, with its currency when given."""
    text = f"{price:.4f}"
    return f"{text} {currency}" if currency else text


def stock_value(in_stock: bool) -> str:
    return "in" if in_stock else "out"


def reporter(event: dict[str, Any], visitor_id: str | None) -> str | None:
    """The visitor whose report this browser event is; None when it cannot count."""
    return None if agent_is_bot(event) else rest_reporter(visitor_id)


def rest_reporter(visitor_id: str | None) -> str | None:
    """The visitor a REST page view reports for; None when it cannot count."""
    if not visitor_id or len(visitor_id) > MAX_VISITOR_LENGTH:
        return None
    return visitor_id


class BrowserReports:
    """The reports of one site within one processor transaction."""

    def __init__(self, conn: Connection, site_id: str, rule: QuorumRule) -> None:
        self.conn = conn
        self.site_id = site_id
        self.rule = rule
        self._counts: dict[tuple[str, str, str, int, int], int] = {}

    def record(self, reports: Iterable[Report]) -> None:
        """Keep each visitor's latest report per product and field (an older one is ignored)."""
        latest: dict[tuple[str, str, str], Report] = {}
        for report in reports:
            slot = (report.key, report.field, report.visitor_id)
            kept = latest.get(slot)
            if kept is None or report.at >= kept.at:
                latest[slot] = report
        if not latest:
            return
        stmt = insert_for(self.conn, R)
        stmt = stmt.on_conflict_do_update(
            index_elements=["site_id", "product_key", "field", "visitor_id"],
            set_={"value": stmt.excluded.value, "at": stmt.excluded.at},
            where=stmt.excluded.at >= R.c.at,
        )
        rows = [
            {
                "site_id": self.site_id,
                "product_key": r.key,
                "field": r.field,
                "visitor_id": r.visitor_id,
                "value": r.value,
                "at": r.at,
            }
            for r in latest.values()
        ]
        self.conn.execute(stmt, rows)
        self._counts.clear()

    def agreed(self, key: str, field: str, value: str, event_at: int, value_at: int) -> bool:
        """Whether enough visitors reported ``value`` to replace a value set at ``value_at``."""
        since = max(value_at, event_at - self.rule.window_ms)  # reports strictly after
        slot = (key, field, value, since, event_at)
        count = self._counts.get(slot)
        if count is None:
            count = self.conn.execute(
                select(func.count())
                .select_from(R)
                .where(
                    R.c.site_id == self.site_id,
                    R.c.product_key == key,
                    R.c.field == field,
                    R.c.value == value,
                    R.c.at > since,
                    R.c.at <= event_at,
                )
            ).scalar_one()
            self._counts[slot] = count
        return count >= self.rule.visitors

    def prune(self, now: int) -> None:
        """Forget reports no window can reach any more (they are in the event log anyway)."""
        self.conn.execute(
            R.delete().where(R.c.site_id == self.site_id, R.c.at < now - self.rule.window_ms)
        )
