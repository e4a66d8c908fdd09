"""Segments as stored: create, read, change, delete (kept as ``deleted``, ids never reused)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Row, insert, select, update

from shoptrack.errors import NotFound, Reason, ShoptrackError
from shoptrack.events.model import iso_ms
from shoptrack.segments.definition import SCHEMA_VERSION, Definition, as_json, parse_definition
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import segments

MAX_NAME = 200
ACTIVE = "active"
DELETED = "deleted"


@dataclass(frozen=True)
class Segment:
    segment_id: int
    site_id: str
    name: str
    definition: Definition
    status: str
    created_at: int
    updated_at: int
    refreshed_at: int | None
    members: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.segment_id,
            "name": self.name,
            "definition": as_json(self.definition),
            "status": self.status,
            "created_at": iso_ms(self.created_at),
            "updated_at": iso_ms(self.updated_at),
            "refreshed_at": iso_ms(self.refreshed_at),
            "members": self.members,
        }


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ShoptrackError(Reason.INVALID_VALUE, "name: a segment needs a name", "name")
    if len(name.strip()) > MAX_NAME:
        raise ShoptrackError(Reason.INVALID_VALUE, f"name: at most {MAX_NAME} characters", "name")
    return name.strip()


def _segment(row: Row[Any]) -> Segment:
    return Segment(
        segment_id=int(row.segment_id),
        site_id=row.site_id,
        name=row.name,
        definition=parse_definition(orjson.loads(row.definition)),
        status=row.status,
        created_at=row.created_at,
        updated_at=row.updated_at,
        refreshed_at=row.refreshed_at,
        members=int(row.members),
    )


def create_segment(conn: Connection, site_id: str, name: str, definition: Any) -> Segment:
    checked = parse_definition(definition)
    now = now_ms()
    segment_id = conn.execute(
        insert(segments)
        .values(
            site_id=site_id,
            name=check_name(name),
            definition=orjson.dumps(as_json(checked)).decode(),
            schema_version=SCHEMA_VERSION,
            status=ACTIVE,
            created_at=now,
            updated_at=now,
        )
        .returning(segments.c.segment_id)
    ).scalar_one()
    return get_segment(conn, site_id, int(segment_id))


def get_segment(conn: Connection, site_id: str, segment_id: int) -> Segment:
    row = conn.execute(
        select(segments).where(
            segments.c.site_id == site_id,
            segments.c.segment_id == segment_id,
            segments.c.status == ACTIVE,
        )
    ).first()
    if row is None:
        raise NotFound(f"no segment {segment_id}", "id")
    return _segment(row)


def segment_exists(conn: Connection, site_id: str, segment_id: int) -> bool:
    return (
        conn.execute(
            select(segments.c.segment_id).where(
                segments.c.site_id == site_id,
                segments.c.segment_id == segment_id,
                segments.c.status == ACTIVE,
            )
        ).first()
        is not None
    )


def list_segments(conn: Connection, site_id: str | None = None) -> list[Segment]:
    stmt = select(segments).where(segments.c.status == ACTIVE).order_by(segments.c.segment_id)
    if site_id is not None:
        stmt = stmt.where(segments.c.site_id == site_id)
    return [_segment(row) for row in conn.execute(stmt)]


def change_segment(
    conn: Connection,
    site_id: str,
    segment_id: int,
    *,
    name: str | None = None,
    definition: Any = None,
) -> Segment:
    get_segment(conn, site_id, segment_id)
    values: dict[str, Any] = {"updated_at": now_ms()}
    if name is not None:
        values["name"] = check_name(name)
    if definition is not None:
        values["definition"] = orjson.dumps(as_json(parse_definition(definition))).decode()
        values["refreshed_at"] = None  # the next refresh evaluates it anew
    conn.execute(
        update(segments)
        .where(segments.c.site_id == site_id, segments.c.segment_id == segment_id)
        .values(**values)
    )
    return get_segment(conn, site_id, segment_id)


def delete_segment(conn: Connection, site_id: str, segment_id: int) -> None:
    get_segment(conn, site_id, segment_id)
    conn.execute(
        update(segments)
        .where(segments.c.site_id == site_id, segments.c.segment_id == segment_id)
        .values(status=DELETED, updated_at=now_ms())
    )
