"""Canonical events written straight into the log, for the catalogue processor to read."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from sqlalchemy import Engine

from shoptrack.store.tables import events


def log_event(
    engine: Engine,
    site_id: str,
    type_: str,
    products: list[dict[str, Any]] | None = None,
    *,
    category_key: str | None = None,
    at: int | None = None,
    source: str = "rest",
    visitor: str | None = None,
    bot: bool = False,
) -> str:
    """One event in the log; ``source="browser"`` for one that came through ``/webevent``."""
    at = at or int(time.time() * 1000)
    event_id = uuid.uuid4().hex
    data = {
        "id": event_id,
        "site_id": site_id,
        "type": type_,
        "products": [
            {"attributes": {}, "extra": {}, "currency": None, "price": None, "in_stock": None, **p}
            for p in products or ()
        ],
        "category_key": category_key,
        "visitor_id": visitor,
        "user_agent": {"is_bot": bot},
    }
    with engine.begin() as conn:
        conn.execute(
            events.insert().values(
                site_id=site_id,
                event_id=event_id,
                type=type_,
                occurred_at=at,
                received_at=at,
                visitor_id=visitor,
                source=source,
                data=orjson.dumps(data).decode(),
            )
        )
    return event_id
