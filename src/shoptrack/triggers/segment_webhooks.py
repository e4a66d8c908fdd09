"""Segment entries and exits posted to the shop's tool (an e-mail or ad platform).

For each segment with a ``webhook_url``, the worker posts the changes after the segment's
cursor in batches of up to :data:`BATCH` contacts, signed as every shoptrack webhook is
(Standard Webhooks, the site's ``whsec_`` secret, ``webhook.py``)::

    {"type": "segment.changed", "timestamp": "…Z",
     "data": {"site_id", "segment_id", "segment": name,
              "changes": [{"change_id", "contact_id", "email", "change": "entered"|"left",
                           "at"}]}}

``webhook-id`` is ``seg_<segment>_<last change id>``: a retried batch has the same id, so a
receiver that saw it already can drop it. The cursor moves only after a 2xx; a failure waits
(the triggers' backoff, up to 4 h between tries) and the same batch is posted again.
Anonymous visitors are counted in segments but never sent (a tool cannot use them).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, select, update

from shoptrack.config import Settings
from shoptrack.errors import ShoptrackError
from shoptrack.events.model import iso_ms
from shoptrack.identity.contacts import ContactService
from shoptrack.identity.crypto import Keyring
from shoptrack.segments.compile import ANONYMOUS_PREFIX
from shoptrack.segments.repo import Segment, list_segments
from shoptrack.store.db import WriteTurn
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import segment_changes, segments
from shoptrack.triggers.model import Outcome
from shoptrack.triggers.retry import backoff_delay
from shoptrack.triggers.webhook import post_signed
from shoptrack.triggers.webhook_secret import WebhookSecretError, WebhookSecrets

log = logging.getLogger(__name__)
BATCH = 100
TICK_S = 5.0


@dataclass
class SegmentWebhookSender:
    engine: Engine
    keyring: Keyring
    settings: Settings

    def __post_init__(self) -> None:
        self.secrets = WebhookSecrets(self.engine, self.keyring)
        self.contacts = ContactService(self.engine, self.keyring)

    def due(self, now: int) -> list[Segment]:
        with self.engine.connect() as conn:
            return [
                s
                for s in list_segments(conn)
                if s.webhook_url and (s.webhook_retry_at is None or s.webhook_retry_at <= now)
            ]

    def deliver_due(self) -> int:
        """Post one batch per due segment; the number of batches the receivers took."""
        delivered = 0
        for segment in self.due(now_ms()):
            delivered += self._deliver(segment)
        return delivered

    def _batch(self, segment: Segment) -> tuple[list[dict[str, Any]], int]:
        c = segment_changes.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(c.change_id, c.person, c.change, c.at)
                .where(
                    c.site_id == segment.site_id,
                    c.segment_id == segment.segment_id,
                    c.change_id > segment.webhook_cursor,
                )
                .order_by(c.change_id)
                .limit(BATCH)
            ).all()
        last = int(rows[-1].change_id) if rows else segment.webhook_cursor
        changes = []
        for row in rows:
            if row.person.startswith(ANONYMOUS_PREFIX):
                continue
            changes.append(
                {
                    "change_id": int(row.change_id),
                    "contact_id": row.person,
                    "email": self._email(segment.site_id, row.person),
                    "change": row.change,
                    "at": iso_ms(row.at),
                }
            )
        return changes, last

    def _email(self, site_id: str, contact_id: str) -> str | None:
        try:
            email = self.contacts.get(site_id, contact_id).get("email")
        except ShoptrackError:  # erased or merged away since: the id is what there is
            return None
        return email if isinstance(email, str) else None

    def _deliver(self, segment: Segment) -> int:
        changes, last = self._batch(segment)
        if last == segment.webhook_cursor:
            return 0
        if not changes:  # only anonymous visitors: nothing to send, move on
            self._record(segment, cursor=last, error=None, retry_at=None, attempts=0)
            return 0
        body = orjson.dumps(
            {
                "type": "segment.changed",
                "timestamp": datetime.now(tz=UTC)
                .isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "data": {
                    "site_id": segment.site_id,
                    "segment_id": segment.segment_id,
                    "segment": segment.name,
                    "changes": changes,
                },
            }
        )
        try:
            secret = self.secrets.secret_for(segment.site_id)
        except WebhookSecretError as exc:
            return self._failed(segment, str(exc))
        assert segment.webhook_url is not None
        result = post_signed(
            segment.webhook_url,
            f"seg_{segment.segment_id}_{last}",
            body,
            secret,
            self.settings.webhook_timeout_s,
            self.settings.webhook_allow_private_hosts,
        )
        if result.outcome is Outcome.SENT:
            self._record(segment, cursor=last, error=None, retry_at=None, attempts=0)
            return 1
        return self._failed(segment, result.detail)

    def _failed(self, segment: Segment, error: str) -> int:
        with self.engine.connect() as conn:
            attempts = (
                int(
                    conn.execute(
                        select(segments.c.webhook_attempts).where(
                            segments.c.segment_id == segment.segment_id
                        )
                    ).scalar_one()
                )
                + 1
            )
        retry_at = now_ms() + int(backoff_delay(attempts) * 1000)
        log.warning(
            "segment %s webhook: %s; next try in %s s",
            segment.segment_id,
            error,
            (retry_at - now_ms()) // 1000,
        )
        self._record(
            segment,
            cursor=segment.webhook_cursor,
            error=error,
            retry_at=retry_at,
            attempts=attempts,
        )
        return 0

    def _record(
        self,
        segment: Segment,
        *,
        cursor: int,
        error: str | None,
        retry_at: int | None,
        attempts: int,
    ) -> None:
        with WriteTurn(self.engine)(), self.engine.begin() as conn:
            conn.execute(
                update(segments)
                .where(segments.c.segment_id == segment.segment_id)
                .values(
                    webhook_cursor=cursor,
                    webhook_error=error,
                    webhook_retry_at=retry_at,
                    webhook_attempts=attempts,
                )
            )

    def loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                while self.deliver_due():  # a full batch may have more behind it
                    if stop.is_set():
                        return
            except Exception:
                log.exception("segment webhooks: the round failed")
            stop.wait(TICK_S)
