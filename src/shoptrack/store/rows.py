"""Plain row shapes handed from the collector to the store (no ORM on the hot path)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class EventRow:
    site_id: str
    event_id: str
    type: str
    occurred_at: int
    received_at: int
    visitor_id: str | None
    session_id: str | None
    contact_id: str | None
    source: str
    cart_guid: str | None
    data: str
    identity_enc: bytes | None


@dataclass(slots=True)
class RejectedRow:
    site_id: str | None
    event_id: str | None
    received_at: int
    source: str
    endpoint: str
    code: str
    message: str
    field: str | None
    body_size: int
    body_enc: bytes
    step: str | None = None  # the collector step that refused it (pipeline.STEPS and others)
