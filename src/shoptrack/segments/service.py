"""What the API and the command line do with segments: each call one transaction (a SQLite
write turn first), a new or changed definition evaluated in full at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from shoptrack.errors import Reason, ShoptrackError
from shoptrack.events.model import iso_ms
from shoptrack.identity.crypto import Keyring
from shoptrack.segments.compile import ANONYMOUS_PREFIX, Scope, evaluate
from shoptrack.segments.definition import parse_definition
from shoptrack.segments.membership import refresh
from shoptrack.segments.repo import (
    UNCHANGED,
    Segment,
    change_segment,
    create_segment,
    delete_segment,
    get_segment,
    list_segments,
)
from shoptrack.store.db import WriteTurn
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import segment_changes, segment_counts, segment_members

MAX_PAGE = 1000
MAX_SAMPLE = 100


def person_json(person: str) -> dict[str, str | None]:
    """A member as the API shows it: a contact, or an anonymous visitor."""
    if person.startswith(ANONYMOUS_PREFIX):
        return {"contact_id": None, "visitor_id": person[len(ANONYMOUS_PREFIX) :]}
    return {"contact_id": person, "visitor_id": None}


@dataclass
class SegmentService:
    engine: Engine
    # Hashes the values of contact-field conditions (``compile.Compiler._field_holders``).
    keyring: Keyring | None = None

    def _write(self) -> Any:
        return WriteTurn(self.engine)()

    def create(self, site_id: str, name: Any, definition: Any) -> Segment:
        with self._write(), self.engine.begin() as conn:
            segment = create_segment(conn, site_id, name, definition)
            refresh(conn, segment, now_ms(), keyring=self.keyring)
            return get_segment(conn, site_id, segment.segment_id)

    def change(
        self,
        site_id: str,
        segment_id: int,
        name: Any = None,
        definition: Any = None,
        webhook_url: Any = UNCHANGED,
    ) -> Segment:
        with self._write(), self.engine.begin() as conn:
            segment = change_segment(
                conn, site_id, segment_id, name=name, definition=definition, webhook_url=webhook_url
            )
            if definition is not None:
                refresh(conn, segment, now_ms(), keyring=self.keyring)
            return get_segment(conn, site_id, segment_id)

    def delete(self, site_id: str, segment_id: int) -> None:
        with self._write(), self.engine.begin() as conn:
            delete_segment(conn, site_id, segment_id)
            m = segment_members.c
            conn.execute(
                segment_members.delete().where(m.site_id == site_id, m.segment_id == segment_id)
            )

    def get(self, site_id: str, segment_id: int) -> Segment:
        with self.engine.connect() as conn:
            return get_segment(conn, site_id, segment_id)

    def all(self, site_id: str) -> list[Segment]:
        with self.engine.connect() as conn:
            return list_segments(conn, site_id)

    def preview(self, site_id: str, definition: Any, sample: int = 20) -> dict[str, Any]:
        """How many match now, and a few of them, without saving anything."""
        checked = parse_definition(definition)
        with self.engine.connect() as conn:
            people = evaluate(conn, checked, Scope(site_id, now_ms()), self.keyring)
        contacts = sorted(p for p in people if not p.startswith(ANONYMOUS_PREFIX))
        visitors = sorted(p for p in people if p.startswith(ANONYMOUS_PREFIX))
        chosen = (contacts + visitors)[: max(0, min(sample, MAX_SAMPLE))]
        return {
            "count": len(people),
            "contacts": len(contacts),
            "anonymous": len(visitors),
            "sample": [person_json(p) for p in chosen],
        }

    def contacts_page(
        self, site_id: str, segment_id: int, after: str | None, limit: int
    ) -> dict[str, Any]:
        """The segment's contacts (anonymous visitors are not exportable), by contact id."""
        if not 1 <= limit <= MAX_PAGE:
            raise ShoptrackError(Reason.INVALID_VALUE, f"limit: 1 to {MAX_PAGE}", "limit")
        m = segment_members.c
        with self.engine.connect() as conn:
            get_segment(conn, site_id, segment_id)
            stmt = (
                select(m.person, m.entered_at)
                .where(
                    m.site_id == site_id,
                    m.segment_id == segment_id,
                    ~m.person.startswith(ANONYMOUS_PREFIX),
                )
                .order_by(m.person)
                .limit(limit + 1)
            )
            if after:
                stmt = stmt.where(m.person > after)
            rows = conn.execute(stmt).all()
        more = len(rows) > limit
        rows = rows[:limit]
        return {
            "contacts": [
                {"contact_id": r.person, "entered_at": iso_ms(r.entered_at)} for r in rows
            ],
            "next": rows[-1].person if more and rows else None,
        }

    def history(self, site_id: str, segment_id: int, changes: int = 100) -> dict[str, Any]:
        """The count over time and the latest entries and exits."""
        with self.engine.connect() as conn:
            segment = get_segment(conn, site_id, segment_id)
            k = segment_counts.c
            counts = conn.execute(
                select(k.at, k.members)
                .where(k.site_id == site_id, k.segment_id == segment_id)
                .order_by(k.at.desc())
                .limit(1000)
            ).all()
            c = segment_changes.c
            recent = conn.execute(
                select(c.person, c.change, c.at)
                .where(c.site_id == site_id, c.segment_id == segment_id)
                .order_by(c.change_id.desc())
                .limit(max(1, min(changes, MAX_PAGE)))
            ).all()
        return {
            "segment": segment.to_json(),
            "counts": [{"at": iso_ms(r.at), "members": r.members} for r in reversed(counts)],
            "changes": [
                {**person_json(r.person), "change": r.change, "at": iso_ms(r.at)} for r in recent
            ],
        }
