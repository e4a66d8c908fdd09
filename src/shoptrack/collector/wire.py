"""Adapters from the two wire formats to :class:`Candidate` events.

Browser (``POST /webevent``, written by tracker/eS.js)::

    {"v": 1, "site_id": "…", "visitor_id": "…", "session_id": "…", "sent_at": 1732670000000,
     "page": {"url": "…", "referrer": "…", "title": "…"},
     "general": {…GeneralInfo the tracker remembers…}, "dropped": 0,
     "events": [{"id": "…", "style": "sendEvent", "name": "ProductPage",
                 "payload": {…exactly as the page passed it…}, "time": 1732669999000,
                 "page": {…optional, when it differs…}}]}

REST (``POST /api/v2``, platform-notes §1): one event, ``{"GeneralInfo": {"eventName",
"siteId", "datetime", "cookies": {"sc"}, …}, "<EventName>": {…}}``. The authenticated batch
import (``POST /api/v1/events``) takes ``{"events": [<REST body>, …]}``.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from shoptrack.collector.limits import check_storable
from shoptrack.collector.pipeline import IncomingEvent
from shoptrack.collector.service import Candidate
from shoptrack.errors import EventRejected, Forbidden, LimitExceeded, Reason, ShoptrackError
from shoptrack.events.model import Page
from shoptrack.store.sites_repo import is_valid_site_id

STYLES = frozenset({"sendEvent", "sendEventWithTags"})


def _optional_text(obj: dict[str, Any], key: str, path: str, max_len: int = 128) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > max_len:
        raise ShoptrackError(
            Reason.INVALID_VALUE, f"{path}: expected a string of at most {max_len} characters", path
        )
    if "\x00" in value:
        # Stored in text columns, and PostgreSQL text cannot hold NUL.
        raise ShoptrackError(Reason.INVALID_VALUE, f"{path}: must not contain NUL characters", path)
    return value


def _check_strings(event: dict[str, Any], path: str) -> None:
    """Refuse the event at the edge when a string in it, at any depth, cannot be stored.

    Stored in the log's JSON such a value is escaped and fits; it fails later, when a
    processor copies it into a text column (the catalogue's product name, issue 13).
    """
    try:
        check_storable(event, path)
    except ShoptrackError as error:
        raise error.at_step("limits") from None


def _site_id(obj: dict[str, Any], key: str, path: str) -> str | None:
    """A site id, refused early when no site could have it (the rule of ``sites create``)."""
    value = _optional_text(obj, key, path, 64)
    if value is not None and not is_valid_site_id(value):
        raise ShoptrackError(
            Reason.INVALID_VALUE, f"{path}: a site id is 1-64 letters, digits, '-' or '_'", path
        )
    return value


def _optional_ms(obj: dict[str, Any], key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0 <= value < 10**14):
        raise EventRejected(Reason.INVALID_VALUE, f"{path}: expected milliseconds since 1970", path)
    return int(value)


def _page(value: Any, path: str, default: Page | None = None) -> Page:
    if value is None:
        return default or Page()
    if not isinstance(value, dict):
        raise ShoptrackError(Reason.INVALID_VALUE, f"{path}: expected an object", path)
    base = default or Page()
    return Page(
        url=_optional_text(value, "url", f"{path}.url", 4096) or base.url,
        referrer=_optional_text(value, "referrer", f"{path}.referrer", 4096) or base.referrer,
        title=_optional_text(value, "title", f"{path}.title", 1000) or base.title,
    )


def read_webevent(
    body: Any, max_events: int, received_ms: int, *, check_strings: bool
) -> tuple[str, list[Candidate], dict[str, Any]]:
    """(site id, candidates, envelope facts) of a browser batch; envelope errors raise.

    The browser's clock may be wrong: the gap between its ``sent_at`` and our receive time
    shifts every event time of the batch (network delay is small next to a wrong clock).
    ``check_strings``: whether an event may hold a string no store can hold (the body's
    limits check left the events to this; ``may_hold_unstorable`` tells from the bytes).
    """
    if not isinstance(body, dict):
        raise ShoptrackError(Reason.INVALID_BODY, "the body must be a JSON object", None)
    site_id = _site_id(body, "site_id", "site_id")
    if site_id is None:
        raise ShoptrackError(Reason.MISSING_FIELD, "site_id is required", "site_id")
    events = body.get("events")
    if not isinstance(events, list):
        raise ShoptrackError(Reason.MISSING_FIELD, "events must be a list of events", "events")
    if len(events) > max_events:
        raise LimitExceeded(
            Reason.TOO_MANY_EVENTS,
            f"{len(events)} events in one request; the limit is {max_events}",
            "events",
            413,
        )
    visitor = _optional_text(body, "visitor_id", "visitor_id")
    session = _optional_text(body, "session_id", "session_id")
    sent_at = _optional_ms(body, "sent_at", "sent_at")
    page = _page(body.get("page"), "page")
    general = body.get("general") if isinstance(body.get("general"), dict) else None
    dropped = body.get("dropped")
    dropped_count = dropped if isinstance(dropped, int) and not isinstance(dropped, bool) else 0
    dropped_count = max(dropped_count, 0)
    envelope: dict[str, Any] = {"sent_at": sent_at, "visitor_id": visitor, "dropped": dropped_count}
    clock_offset = received_ms - sent_at if sent_at is not None else 0

    candidates: list[Candidate] = []
    for index, item in enumerate(events):
        path = f"events[{index}]"
        candidate = Candidate(raw=item, site_id=site_id)
        try:
            if not isinstance(item, dict):
                raise EventRejected(Reason.INVALID_BODY, f"{path}: expected an event object", path)
            raw_id = item.get("id")
            candidate.event_id = raw_id if isinstance(raw_id, str) else None
            if check_strings:
                _check_strings(item, path)
            style = item.get("style", "sendEvent")
            if not isinstance(style, str) or style not in STYLES:  # [] is not hashable
                raise EventRejected(
                    Reason.INVALID_VALUE,
                    f"{path}.style: expected sendEvent or sendEventWithTags",
                    f"{path}.style",
                )
            event_general = item.get("general")
            merged_general = {
                **(general or {}),
                **(event_general if isinstance(event_general, dict) else {}),
            }
            candidate.incoming = IncomingEvent(
                site_id=site_id,
                name=item.get("name"),
                payload=item.get("payload"),
                source="browser",
                style=style,
                event_id=raw_id,
                client_time_ms=_optional_ms(item, "time", f"{path}.time"),
                clock_offset_ms=clock_offset,
                visitor_id=visitor,
                session_id=session,
                page=_page(item.get("page"), f"{path}.page", page),
                general=merged_general,
                # The first event of a batch carries the count of events the browser dropped.
                dropped_before=dropped_count if index == 0 else 0,
            )
        except ShoptrackError as error:
            candidate.error = error.at_step("envelope")
            candidate.incoming = None
        candidates.append(candidate)
    return site_id, candidates, envelope


def _rest_event_id(general: dict[str, Any], site_id: str, body: Any) -> Any:
    """The client's id if it sent one; else, for a dated event, a hash of its content.

    Server integrations retry whole requests; an identical body with the same ``datetime``
    is the same event, so it gets the same id and is stored once.
    """
    explicit = general.get("eventId") or general.get("event_id")
    if explicit not in (None, ""):
        return explicit
    if general.get("datetime") in (None, ""):
        return None
    digest = hashlib.sha256(
        site_id.encode() + b"\x00" + orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()
    return "rest-" + digest[:40]


def read_rest_event(
    body: Any, *, site_id_from_key: str | None, authenticated: bool, check_strings: bool
) -> Candidate:
    """One server-side event (platform-notes §1) as a candidate; envelope errors included.

    ``check_strings``: whether the event may hold a string no store can hold (false when the
    body's limits check covered it already, or its bytes rule it out).
    """
    candidate = Candidate(raw=body, site_id=site_id_from_key)
    try:
        if not isinstance(body, dict):
            raise EventRejected(Reason.INVALID_BODY, "the body must be a JSON object", None)
        if check_strings:
            _check_strings(body, "")
        general = body.get("GeneralInfo")
        if not isinstance(general, dict):
            raise EventRejected(Reason.MISSING_FIELD, "GeneralInfo is required", "GeneralInfo")
        site_id = _site_id(general, "siteId", "GeneralInfo.siteId")
        if site_id_from_key is not None:
            if site_id is not None and site_id != site_id_from_key:
                raise Forbidden("GeneralInfo.siteId names another site than the API key's")
            site_id = site_id_from_key
        if site_id is None:
            raise EventRejected(
                Reason.MISSING_FIELD, "GeneralInfo.siteId is required", "GeneralInfo.siteId"
            )
        candidate.site_id = site_id
        if general.get("eventName") in (None, ""):
            raise EventRejected(
                Reason.MISSING_FIELD, "GeneralInfo.eventName is required", "GeneralInfo.eventName"
            )
        cookies = general.get("cookies")
        visitor = (
            _optional_text(cookies, "sc", "GeneralInfo.cookies.sc")
            if isinstance(cookies, dict)
            else None
        )
        event_id = _rest_event_id(general, site_id, body)
        candidate.event_id = event_id if isinstance(event_id, str) else None
        candidate.incoming = IncomingEvent(
            site_id=site_id,
            name=general.get("eventName"),
            payload=body,
            source="rest",
            style="sendEventWithTags",
            event_id=event_id,
            client_time_ms=_optional_ms(general, "datetime", "GeneralInfo.datetime"),
            visitor_id=visitor,
            session_id=_optional_text(general, "sessionId", "GeneralInfo.sessionId"),
            page=Page(url=_optional_text(general, "pageUrl", "GeneralInfo.pageUrl", 4096)),
            authenticated=authenticated,
        )
    except ShoptrackError as error:
        candidate.error = error.at_step("envelope")
        candidate.incoming = None
    return candidate
