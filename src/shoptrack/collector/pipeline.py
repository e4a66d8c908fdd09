"""The collector's steps for one event, a named list: id → type → identity → normalize →
validate → enrich (:data:`STEPS`).

Each step sets on the :class:`Draft` what the next needs, or raises a
:class:`~shoptrack.errors.ShoptrackError` with a reason and the field at fault;
:func:`build_event` records which step refused, and :class:`~.service.Collector` turns every
refusal into a row of the rejected-events store, step included.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from shoptrack.collector.enrich import (
    Sessionizer,
    describe_user_agent,
    scrub_text,
    scrub_url,
    trusted_time,
)
from shoptrack.errors import EventRejected, Reason, ShoptrackError, Unauthorized
from shoptrack.events.identity import API_KEY_MARK, extract_identity, identity_from_general
from shoptrack.events.location import location_from_url
from shoptrack.events.model import CanonicalEvent, Page
from shoptrack.events.normalize import NormalizedBody, normalize_payload
from shoptrack.events.types import SERVER_ONLY_TYPES, EventType, parse_event_type
from shoptrack.events.values import parse_key
from shoptrack.identity.crypto import PURPOSE_EVENT_IDENTITY, Keyring
from shoptrack.store.rows import EventRow

_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_IDENTITY_IDS = ("externalCustomerId", "user_email", "user_phone", "user_es_contact_id")


@dataclass(slots=True)
class IncomingEvent:
    """One event as read off the wire, before any interpretation."""

    site_id: str
    name: Any
    payload: Any
    source: str
    style: str
    event_id: Any = None
    client_time_ms: int | None = None
    clock_offset_ms: int = 0
    visitor_id: str | None = None
    session_id: str | None = None
    page: Page = field(default_factory=Page)
    general: Any = None
    authenticated: bool = False
    dropped_before: int = 0


@dataclass(slots=True)
class RequestMeta:
    received_ms: int
    ip: str | None
    user_agent: str | None
    # The parsed agent, once per request rather than once per event of its batch.
    agent: dict[str, Any] | None = field(init=False)

    def __post_init__(self) -> None:
        self.agent = describe_user_agent(self.user_agent) if self.user_agent else None


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    max_future_ms: int
    max_browser_age_ms: int


def _event_id(value: Any, field_name: str) -> str:
    if value is None or value == "":
        return secrets.token_hex(16)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise EventRejected(
            Reason.INVALID_VALUE,
            f"{field_name}: an event id is 1-128 letters, digits or ._:-",
            field_name,
        )
    return value


def _general_location(general: Any) -> str | None:
    """``s_location`` of the GeneralInfo the tracker sends beside the payload, if any."""
    if not isinstance(general, dict):
        return None
    return parse_key(general.get("s_location"), "general.s_location", required=False)


def _identity_visitor(site_id: str, identity: dict[str, Any], keyring: Keyring) -> str | None:
    """A stable pseudonymous visitor for server-side events that carry no cookie. Identities
    sent without the API key get visitors of their own: else anyone could post an e-mail with
    no cookie and have the event join the visitor of that person's server-side events."""
    purpose = "visitor" if identity.get(API_KEY_MARK) is True else "visitor-keyless"
    for name in _IDENTITY_IDS:
        value = identity.get(name)
        if value not in (None, ""):
            digest = keyring.blind_index(f"{site_id}\x00{name}\x00{value}", purpose)
            return "id-" + digest[:24]
    return None


@dataclass(slots=True)
class Draft:
    """One event on its way through the steps: each step reads what earlier ones set."""

    incoming: IncomingEvent
    meta: RequestMeta
    config: PipelineConfig
    keyring: Keyring
    sessionizer: Sessionizer
    event_id: str = ""
    etype: EventType = EventType.PAGE_VIEW
    identity: dict[str, Any] = field(default_factory=dict)
    payload: Any = None
    body: NormalizedBody | None = None
    event: CanonicalEvent | None = None


def _step_id(draft: Draft) -> None:
    id_field = "id" if draft.incoming.source == "browser" else "GeneralInfo.eventId"
    draft.event_id = _event_id(draft.incoming.event_id, id_field)


def _step_type(draft: Draft) -> None:
    incoming = draft.incoming
    etype = parse_event_type(incoming.name)
    name_field = "name" if incoming.source == "browser" else "GeneralInfo.eventName"
    if etype is None:
        shown = str(incoming.name)[:60] if incoming.name is not None else "nothing"
        raise EventRejected(
            Reason.UNKNOWN_EVENT,
            f"{name_field}: {shown!r} is not an event shoptrack knows",
            name_field,
        )
    if etype in SERVER_ONLY_TYPES and not incoming.authenticated:
        raise Unauthorized(f"{etype.value} changes the catalogue and needs the site's API key")
    draft.etype = etype


def _step_identity(draft: Draft) -> None:
    """Personal fields out of the payload before anything else reads it."""
    identity = identity_from_general(draft.incoming.general)
    payload_identity, draft.payload = extract_identity(draft.incoming.payload)
    identity.update(payload_identity)
    # Only the collector says an identity came with the API key: never the payload.
    identity.pop(API_KEY_MARK, None)
    if identity and draft.incoming.authenticated:
        identity[API_KEY_MARK] = True
    draft.identity = identity


def _step_normalize(draft: Draft) -> None:
    draft.body = normalize_payload(draft.etype, draft.payload)


def _step_validate(draft: Draft) -> None:
    """Rules across fields, once the body is read."""
    if draft.etype is EventType.CUSTOMER_DATA and not any(
        draft.identity.get(k) for k in _IDENTITY_IDS
    ):
        raise EventRejected(
            Reason.MISSING_FIELD,
            "CustomerData needs user_email, user_phone, externalCustomerId or user_es_contact_id",
            "CustomerData.user_email",
        )


def _step_enrich(draft: Draft) -> None:
    """Times, visitor and session, the scrubbed page, attribution, the client: the event."""
    incoming, meta, config, body = draft.incoming, draft.meta, draft.config, draft.body
    assert body is not None
    received = meta.received_ms
    max_age = config.max_browser_age_ms if incoming.source == "browser" else None
    occurred = trusted_time(
        incoming.client_time_ms, received, incoming.clock_offset_ms, config.max_future_ms, max_age
    )
    visitor = incoming.visitor_id or _identity_visitor(
        incoming.site_id, draft.identity, draft.keyring
    )
    if visitor is None:
        visitor = "v-" + secrets.token_hex(12)
    session = incoming.session_id or draft.sessionizer.session_for(
        incoming.site_id, visitor, occurred
    )
    page = Page(
        scrub_url(incoming.page.url),
        scrub_url(incoming.page.referrer),
        scrub_text(incoming.page.title),
    )
    draft.event = CanonicalEvent(
        id=draft.event_id,
        site_id=incoming.site_id,
        type=draft.etype,
        name=str(incoming.name),
        style=incoming.style,
        source=incoming.source,
        occurred_at=occurred,
        received_at=received,
        client_time=incoming.client_time_ms,
        visitor_id=visitor,
        session_id=session,
        page=page,
        location=body.location
        or _general_location(incoming.general)
        or location_from_url(incoming.page.url),
        products=body.products,
        cart_guid=body.cart_guid,
        order_number=body.order_number,
        category_key=body.category_key,
        search=body.search,
        tags=body.tags,
        ip=meta.ip,
        user_agent=meta.agent,
        payload=draft.payload,
        identity=draft.identity,
        dropped_before=incoming.dropped_before,
        needs_cart_items=body.items_missing,
    )


# The steps every event passes, in order, by name. A step refuses an event by raising a
# ShoptrackError (its reason and field); the name of the step is recorded with the rejection,
# so "which check refused it" is answered without reading code.
STEPS: tuple[tuple[str, Callable[[Draft], None]], ...] = (
    ("id", _step_id),
    ("type", _step_type),
    ("identity", _step_identity),
    ("normalize", _step_normalize),
    ("validate", _step_validate),
    ("enrich", _step_enrich),
)


def build_event(
    incoming: IncomingEvent,
    meta: RequestMeta,
    config: PipelineConfig,
    keyring: Keyring,
    sessionizer: Sessionizer,
) -> CanonicalEvent:
    """The canonical event for one incoming event; a refusal names its step (``error.step``)."""
    draft = Draft(incoming, meta, config, keyring, sessionizer)
    for name, step in STEPS:
        try:
            step(draft)
        except ShoptrackError as error:
            error.step = name
            raise
    assert draft.event is not None
    return draft.event


def to_row(event: CanonicalEvent, keyring: Keyring) -> EventRow:
    identity_enc = (
        keyring.encrypt_json(event.identity, PURPOSE_EVENT_IDENTITY) if event.identity else None
    )
    return EventRow(
        site_id=event.site_id,
        event_id=event.id,
        type=event.type.value,
        occurred_at=event.occurred_at,
        received_at=event.received_at,
        visitor_id=event.visitor_id,
        session_id=event.session_id,
        contact_id=event.contact_id,
        source=event.source,
        cart_guid=event.cart_guid,
        data=orjson.dumps(event.to_json()).decode(),
        identity_enc=identity_enc,
    )
