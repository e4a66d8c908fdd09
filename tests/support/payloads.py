"""Builders for request bodies in the wire formats the collector accepts."""

from __future__ import annotations

import time
import uuid
from typing import Any


def now_ms() -> int:
    return int(time.time() * 1000)


def browser_event(
    name: str,
    payload: Any = None,
    *,
    style: str = "sendEvent",
    event_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": event_id or uuid.uuid4().hex,
        "style": style,
        "name": name,
        "time": now_ms(),
    }
    if payload is not None:
        event["payload"] = payload
    event.update(extra)
    return event


def webevent_body(
    site_id: str,
    *events: dict[str, Any],
    visitor_id: str = "visitor-1",
    session_id: str = "session-1",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "v": 1,
        "site_id": site_id,
        "visitor_id": visitor_id,
        "session_id": session_id,
        "sent_at": now_ms(),
        "page": {"url": "https://shop.example/", "referrer": None, "title": "Shop"},
        "events": list(events),
    }
    body.update(extra)
    return body


def rest_body(
    site_id: str, event_name: str, section: dict[str, Any] | None = None, **general: Any
) -> dict[str, Any]:
    info: dict[str, Any] = {
        "eventName": event_name,
        "siteId": site_id,
        "datetime": now_ms(),
        "cookies": {"sc": "visitor-rest"},
    }
    info.update(general)
    body: dict[str, Any] = {"GeneralInfo": info}
    if section:
        body.update(section)
    return body
