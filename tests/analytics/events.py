"""Canonical events written straight into the log, as the collector would have stored them."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, insert

from shoptrack.analytics.processor import AnalyticsProcessor
from shoptrack.processing.runner import ProcessorRunner
from shoptrack.store.tables import events

_ids = itertools.count(1)


def ms(text: str) -> int:
    """``2026-12-01T10:00:00`` (UTC) in ms."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def event(
    site_id: str,
    kind: str,
    at: int,
    visitor: str | None = "v1",
    *,
    source: str = "browser",
    bot: bool = False,
    url: str | None = "https://shop.example/",
    products: list[dict[str, Any]] | None = None,
    received_at: int | None = None,
) -> dict[str, Any]:
    event_id = f"e{next(_ids)}"
    data = {
        "id": event_id,
        "site_id": site_id,
        "type": kind,
        "source": source,
        "visitor_id": visitor,
        "page": {"url": url, "referrer": None, "title": None},
        "products": products or [],
        "user_agent": {"browser": "Firefox", "os": "Linux", "device": "Other", "is_bot": bot},
    }
    return {
        "site_id": site_id,
        "event_id": event_id,
        "type": kind,
        "occurred_at": at,
        "received_at": at if received_at is None else received_at,
        "visitor_id": visitor,
        "session_id": None if visitor is None else f"s-{visitor}",
        "contact_id": None,
        "source": source,
        "cart_guid": None,
        "data": orjson.dumps(data).decode(),
        "identity_enc": None,
    }


def store(engine: Engine, *rows: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(events), list(rows))


def process(engine: Engine, batch_size: int = 500) -> None:
    ProcessorRunner(engine, [AnalyticsProcessor()], batch_size=batch_size).drain()
