"""The ``trigger_reports`` processor: what each rule's messages brought in, per day.

Every product link of a trigger message carries ``sc_content=t_<rule>_<message_id>``
(``links.py``); the tracker remembers it from the landing URL and repeats it, as the event's
``location``, on the visitor's later events. This processor follows the log like the block
reports (cursor ``trigger_reports``, one transaction per batch) and keeps, per site, UTC day
**of the message's send** and rule (``trigger_report_daily``):

* **clicked**: messages with at least one visit through their link (an event whose
  ``location`` names the message), each message counted once, however many visits;
* **orders, revenue**: a ``PurchasedItems`` by a visitor within the attribution window
  (``SHOPTRACK_ATTRIBUTION_WINDOW_DAYS``, as the block reports; from the last visit through
  the link, at most a few minutes of clock skew before it) counts for the message that visitor,
  or the contact the visitor is linked to, last came through (last click wins). Each message
  converts once: its first such order, with the order's whole value (price × quantity of
  its lines). A later order needs a later click of another message.

Clicks and orders are added to the day the message was sent, so a day's rates compare its
messages with what those messages brought, whenever it came. ``sent`` is not kept here: it is
counted from ``trigger_messages`` when the report is read (``report_queries.py``).

A link names a message of the same site, else it is ignored (a copied link, a forged one).
Bot traffic is skipped unless ``include_bots``, as in the block reports. Replaying the log
(``shoptrack reports rebuild``) gives the same numbers, except that an order is tied to a
contact through the visitor links of the time it is read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, or_, select

from shoptrack.events.traffic import is_bot_event
from shoptrack.reports.attribution import CLOCK_SLACK_MS, DAY_MS, utc_day
from shoptrack.reports.ids import TriggerRef, parse_trigger_content
from shoptrack.store.tables import events
from shoptrack.triggers.report_state import (
    CONTACT,
    VISITOR,
    Counts,
    DayRule,
    MessageClicks,
    ReportState,
    SentMessage,
    Subject,
    Visit,
    contacts_of,
    load,
    sent_messages,
    write,
)

NAME = "trigger_reports"
PURCHASE = "PurchasedItems"
# Every event that can name a message holds this text in its JSON (``"location":"t_…"``):
# the store skips the rest of the batch without it being parsed.
_MARK = '"t_'


@dataclass(slots=True)
class Row:
    type: str
    occurred_at: int
    visitor_id: str
    ref: TriggerRef | None
    data: dict[str, Any]


def _number(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return float(value)


def order_value(data: dict[str, Any]) -> float:
    """The order's price × quantity over its lines (as the shop sent them)."""
    total = 0.0
    for line in data.get("products") or []:
        if isinstance(line, dict):
            total += _number(line.get("price"), 0.0) * _number(line.get("quantity"), 1.0)
    return total


class TriggerReportProcessor:
    name = NAME

    def __init__(self, attribution_window_days: int = 7, include_bots: bool = False) -> None:
        self.window_ms = max(0, attribution_window_days) * DAY_MS
        self.include_bots = include_bots

    def handle(self, conn: Connection, after: int, upto: int) -> None:
        e = events.c
        stmt = (
            select(e.site_id, e.type, e.occurred_at, e.visitor_id, e.data)
            .where(e.seq > after, e.seq <= upto, e.visitor_id.is_not(None))
            .where(or_(e.type == PURCHASE, e.data.contains(_MARK, autoescape=True)))
            .order_by(e.seq)
        )
        by_site: dict[str, list[Row]] = defaultdict(list)
        for r in conn.execute(stmt):
            data = orjson.loads(r.data)
            if not isinstance(data, dict) or (not self.include_bots and is_bot_event(data)):
                continue
            ref = parse_trigger_content(data.get("location"))
            if ref is None and r.type != PURCHASE:
                continue
            by_site[r.site_id].append(Row(r.type, int(r.occurred_at), r.visitor_id, ref, data))
        for site_id in sorted(by_site):
            self._site(conn, site_id, by_site[site_id])

    def _site(self, conn: Connection, site_id: str, rows: list[Row]) -> None:
        named = sorted({r.ref.message_id for r in rows if r.ref is not None})
        sent = sent_messages(conn, site_id, named)
        buyers = sorted({r.visitor_id for r in rows if r.type == PURCHASE})
        contact_of = contacts_of(conn, site_id, buyers) if buyers else {}
        subjects: set[Subject] = {(VISITOR, r.visitor_id) for r in rows}
        subjects.update((CONTACT, m.contact_id) for m in sent.values())
        subjects.update((CONTACT, c) for c in contact_of.values())
        state = load(conn, site_id, sorted(subjects), sorted(sent))
        counts: dict[DayRule, Counts] = defaultdict(Counts)
        for row in rows:
            if row.ref is not None:
                message = sent.get(row.ref.message_id)
                # The rule is part of the link: one naming another rule is not this message's.
                if message is not None and message.rule == row.ref.rule:
                    self._click(state, counts, row, row.ref.message_id, message)
            if row.type == PURCHASE:
                self._order(state, counts, row, contact_of.get(row.visitor_id))
        write(conn, site_id, state, counts)

    @staticmethod
    def _click(
        state: ReportState,
        counts: dict[DayRule, Counts],
        row: Row,
        message_id: str,
        message: SentMessage,
    ) -> None:
        if message_id not in state.messages:
            day = utc_day(message.sent_at)
            state.messages[message_id] = MessageClicks(message.rule, day, row.occurred_at)
            state.dirty_messages.add(message_id)
            counts[(day, message.rule)].clicked += 1
        for subject in ((VISITOR, row.visitor_id), (CONTACT, message.contact_id)):
            visit = state.visits.get(subject)
            if visit is not None and visit.message_id == message_id:
                visit.clicked_at = max(visit.clicked_at, row.occurred_at)  # the same visit on
            else:
                state.visits[subject] = Visit(message_id, row.occurred_at)
            state.dirty_visits.add(subject)

    def _order(
        self,
        state: ReportState,
        counts: dict[DayRule, Counts],
        row: Row,
        contact_id: str | None,
    ) -> None:
        """Credit the order to the message last clicked by its visitor or contact, if any."""
        if not self.window_ms:
            return
        candidates = [state.visits.get((VISITOR, row.visitor_id))]
        if contact_id is not None:
            candidates.append(state.visits.get((CONTACT, contact_id)))
        recent = [
            visit
            for visit in candidates
            if visit is not None
            and -CLOCK_SLACK_MS <= row.occurred_at - visit.clicked_at <= self.window_ms
        ]
        if not recent:
            return
        last = max(recent, key=lambda visit: visit.clicked_at)
        message = state.messages.get(last.message_id)
        if message is None or message.converted_at is not None:
            return
        message.converted_at = row.occurred_at
        state.dirty_messages.add(last.message_id)
        credited = counts[(message.day, message.rule)]
        credited.orders += 1
        credited.revenue += order_value(row.data)
