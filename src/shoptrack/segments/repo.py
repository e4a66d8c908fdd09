"""Segments as stored: create, read, change, delete (kept as ``deleted``, ids never reused)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import Connection, Row, func, insert, select, update

from shoptrack.errors import NotFound, Reason, ShoptrackError
from shoptrack.events.model import iso_ms
from shoptrack.segments.definition import SCHEMA_VERSION, Definition, as_json, parse_definition
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import segment_changes, segments

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
    webhook_url: str | None = None
    webhook_cursor: int = 0
    webhook_error: str | None = None
    webhook_retry_at: int | None = None

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
            "webhook": {
                "url": self.webhook_url,
                "delivered_through_change": self.webhook_cursor,
                "error": self.webhook_error,
                "retry_at": iso_ms(self.webhook_retry_at),
            },
        }


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ShoptrackError(Reason.INVALID_VALUE, "name: a segment needs a name", "name")
    if len(name.strip()) > MAX_NAME:
        raise ShoptrackError(Reason.INVALID_VALUE, f"name: at most {MAX_NAME} characters", "name")
    return name.strip()


# ``change_segment``'s default: the webhook URL is left as it is (None removes it).
UNCHANGED: Any = object()
MAX_URL = 2000


def check_webhook_url(value: Any) -> str | None:
    """An absolute http(s) URL, or None (no webhook)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_URL:
        raise ShoptrackError(
            Reason.INVALID_VALUE, "webhook_url: expected an http(s) URL", "webhook_url"
        )
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ShoptrackError(
            Reason.INVALID_VALUE, "webhook_url: expected an http(s) URL", "webhook_url"
        )
    return value.strip()


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
        webhook_url=row.webhook_url,
        webhook_cursor=int(row.webhook_cursor),
        webhook_error=row.webhook_error,
        webhook_retry_at=row.webhook_retry_at,
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
    webhook_url: Any = UNCHANGED,
) -> Segment:
    current = get_segment(conn, site_id, segment_id)
    values: dict[str, Any] = {"updated_at": now_ms()}
    if webhook_url is not UNCHANGED:
        url = check_webhook_url(webhook_url)
        values.update(
            webhook_url=url, webhook_attempts=0, webhook_retry_at=None, webhook_error=None
        )
        if url is not None and current.webhook_url is None:
            # A newly connected tool gets the changes from now on; the members it starts
            # from are the export (GET /segments/{id}/contacts).
            c = segment_changes.c
            values["webhook_cursor"] = int(
                conn.execute(
                    select(func.coalesce(func.max(c.change_id), 0)).where(
                        c.site_id == site_id, c.segment_id == segment_id
                    )
                ).scalar_one()
            )
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
