"""What an erasure removes from the segments (an ``ErasureStep`` of ``identity.erasure``):
the person's facts, memberships and recorded entries and exits; counts stay as recorded."""

from __future__ import annotations

from sqlalchemy import Connection

from shoptrack.segments.facts import forget_facts
from shoptrack.segments.membership import forget_person


def forget_segment_data(
    conn: Connection, site_id: str, contact_ids: list[str], visitor_ids: list[str]
) -> dict[str, int]:
    return {
        "segment_facts_deleted": forget_facts(conn, site_id, contact_ids, visitor_ids),
        "segment_memberships_deleted": forget_person(conn, site_id, contact_ids, visitor_ids),
    }
