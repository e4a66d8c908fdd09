"""The collector: turns incoming events into committed rows and says what became of each."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request

from shoptrack.collector.enrich import Sessionizer, truncate_ip, warm_up
from shoptrack.collector.limits import Limits, check_structure, parse_json, read_body
from shoptrack.collector.pipeline import (
    IncomingEvent,
    PipelineConfig,
    RequestMeta,
    build_event,
    to_row,
)
from shoptrack.collector.sites import SiteDirectory
from shoptrack.collector.writer import GroupCommitWriter
from shoptrack.config import Settings
from shoptrack.errors import EventRejected, Reason, ShoptrackError
from shoptrack.events.model import CanonicalEvent, Product
from shoptrack.events.scrub import scrub_optional
from shoptrack.events.types import EventType
from shoptrack.identity.crypto import PURPOSE_REJECTED_BODY, Keyring
from shoptrack.store.events_repo import EventLog
from shoptrack.store.rows import EventRow, RejectedRow

# What is kept of a body refused for its size: enough to see what it was.
_KEPT_PREFIX_BYTES = 64 * 1024


def _storable(text: str | None, max_len: int) -> str | None:
    """Client text fit for a text column: bounded, and without NUL (PostgreSQL refuses it).

    A rejection must always be storable, whatever the refused body held.
    """
    return text.replace("\x00", "\ufffd")[:max_len] if text else None


@dataclass(slots=True)
class Rejection:
    index: int
    event_id: str | None
    error: ShoptrackError

    def to_json(self) -> dict[str, Any]:
        # A field path is made of the client's keys, an id is the client's: scrubbed like
        # every other client string that leaves the collector.
        error = self.error.to_dict()
        for name in ("message", "field"):
            if isinstance(error.get(name), str):
                error[name] = scrub_optional(error[name])
        return {"index": self.index, "id": scrub_optional(self.event_id), "error": error}


@dataclass(slots=True)
class BatchOutcome:
    accepted: list[CanonicalEvent] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": len(self.accepted),
            "ids": [event.id for event in self.accepted],
            "rejected": [r.to_json() for r in self.rejected],
        }


@dataclass(slots=True)
class Candidate:
    """An incoming event, or the error that stopped it from becoming one, with its raw item."""

    raw: Any
    incoming: IncomingEvent | None = None
    error: ShoptrackError | None = None
    event_id: str | None = None
    # The site it was sent for, when known: a rejection is listed to that site.
    site_id: str | None = None


def pipeline_config(settings: Settings) -> PipelineConfig:
    """How far the pipeline trusts client clocks, from the settings."""
    return PipelineConfig(
        max_future_ms=settings.max_clock_skew_future_s * 1000,
        max_browser_age_ms=settings.max_event_age_s * 1000,
    )


def structure_limits(
    settings: Settings, max_body_bytes: int, max_events: int | None = None
) -> Limits:
    """The settings' structure limits for a body of at most ``max_body_bytes``."""
    return Limits(
        max_body_bytes,
        settings.max_depth,
        settings.max_list_length,
        settings.max_string_length,
        max_events,
    )


class Collector:
    def __init__(
        self,
        settings: Settings,
        event_log: EventLog,
        writer: GroupCommitWriter,
        sites: SiteDirectory,
        keyring: Keyring,
    ) -> None:
        self.settings = settings
        self.event_log = event_log
        self.writer = writer
        self.sites = sites
        self.keyring = keyring
        self.sessionizer = Sessionizer(settings.session_timeout_s * 1000)
        self.pipeline_config = pipeline_config(settings)
        warm_up()  # built with the services, off the event loop

    def limits(self, max_body_bytes: int, max_events: int | None = None) -> Limits:
        return structure_limits(self.settings, max_body_bytes, max_events)

    def request_meta(self, request: Request) -> RequestMeta:
        ip: str | None = request.client.host if request.client else None
        if self.settings.trust_proxy_headers:
            forwarded = request.headers.get("x-forwarded-for")
            if forwarded:
                ip = forwarded.split(",")[0].strip()
        return RequestMeta(
            int(time.time() * 1000), truncate_ip(ip), request.headers.get("user-agent")
        )

    async def read_json(
        self, request: Request, max_bytes: int, max_events: int | None = None
    ) -> tuple[Any, bytes]:
        """The parsed, limit-checked body and its bytes (``max_events``: a batch's limit).

        A refusal carries what was read of the body (``error.kept_body``) so the route can
        store it with the reason.
        """
        raw = b""
        step = "read"
        try:
            raw = await read_body(request.receive, request.headers.get("content-length"), max_bytes)
            step = "parse"
            data = parse_json(raw)
            step = "limits"
            check_structure(data, self.limits(max_bytes, max_events), raw)
        except ShoptrackError as error:
            error.kept_body = raw
            raise error.at_step(step) from None
        return data, raw

    async def reject_body(
        self,
        error: ShoptrackError,
        raw: bytes,
        *,
        site_id: str | None,
        source: str,
        endpoint: str,
        meta: RequestMeta,
        event_id: str | None = None,
    ) -> None:
        row = self._rejected_row(
            error, raw[:_KEPT_PREFIX_BYTES], site_id, event_id, source, endpoint, meta
        )
        await self.writer.submit([], [row])

    def _rejected_row(
        self,
        error: ShoptrackError,
        raw: bytes,
        site_id: str | None,
        event_id: str | None,
        source: str,
        endpoint: str,
        meta: RequestMeta,
    ) -> RejectedRow:
        # The raw body may hold e-mails and phones: it is kept, but only encrypted.
        return RejectedRow(
            # A refused body's site id and event id are the client's, unchecked.
            site_id=_storable(scrub_optional(site_id), 64),
            event_id=_storable(scrub_optional(event_id), 128),
            received_at=meta.received_ms,
            source=source,
            endpoint=endpoint,
            code=str(error.code),
            step=error.step or None,
            # Messages name fields, never values; scrubbed all the same, as field paths are
            # made of the client's keys.
            message=_storable(scrub_optional(error.message), 2000) or "",
            field=_storable(scrub_optional(error.field), 256),
            body_size=len(raw),
            body_enc=self.keyring.encrypt(raw, PURPOSE_REJECTED_BODY),
        )

    async def ingest(
        self, candidates: list[Candidate], meta: RequestMeta, *, source: str, endpoint: str
    ) -> BatchOutcome:
        """Build, validate and commit a batch; each event is accepted or rejected on its own."""
        outcome = BatchOutcome()
        rows: list[EventRow] = []
        rejected_rows: list[RejectedRow] = []
        site_id: str | None = None
        for index, candidate in enumerate(candidates):
            error = candidate.error
            event: CanonicalEvent | None = None
            if candidate.incoming is not None and error is None:
                site_id = candidate.incoming.site_id
                try:
                    built = build_event(
                        candidate.incoming,
                        meta,
                        self.pipeline_config,
                        self.keyring,
                        self.sessionizer,
                    )
                    if built.needs_cart_items:
                        await self._take_cart_items(built, outcome.accepted)
                    # Only now: a purchase whose cart is unknown is rejected, not stored empty.
                    event = built
                except ShoptrackError as exc:
                    error = exc
            if event is not None:
                outcome.accepted.append(event)
                rows.append(to_row(event, self.keyring))
                continue
            assert error is not None
            outcome.rejected.append(Rejection(index, candidate.event_id, error))
            raw = orjson.dumps(candidate.raw, option=orjson.OPT_NON_STR_KEYS)
            incoming_site = (
                candidate.incoming.site_id if candidate.incoming else candidate.site_id or site_id
            )
            rejected_rows.append(
                self._rejected_row(
                    error, raw, incoming_site, candidate.event_id, source, endpoint, meta
                )
            )
        await self.writer.submit(rows, rejected_rows)
        return outcome

    async def _take_cart_items(self, event: CanonicalEvent, earlier: list[CanonicalEvent]) -> None:
        guid = event.cart_guid
        for previous in reversed(earlier):
            if previous.type is EventType.STATUS_CART and previous.cart_guid == guid:
                event.products = [Product.from_json(p.to_json()) for p in previous.products]
                return
        assert guid is not None
        stored = await asyncio.get_running_loop().run_in_executor(
            None, self.event_log.cart_by_guid, event.site_id, guid
        )
        if stored is None:
            raise EventRejected(
                Reason.MISSING_FIELD,
                "PurchasedItems has no items and no earlier StatusCart has its GUID: "
                "send the purchased items",
                "PurchasedItems",
            ).at_step("cart")
        event.products = [Product.from_json(p) for p in orjson.loads(stored)["products"]]
