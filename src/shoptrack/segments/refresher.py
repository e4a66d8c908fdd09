"""The worker's segment rounds (every minute at most):

* a full refresh of every segment every ``segment_refresh_s``: time alone moves people out of
  windows ("viewed in the last 7 days") and into conditions like "last order more than 30
  days ago"; events only cover the people they are about;
* contacts written since the last round (``contacts.updated_at``: an API upsert, a merge)
  are evaluated again for the segments with a ``contact`` condition, since a changed city or
  custom field arrives with no event. The first round looks back to the oldest full refresh
  of those segments, so changes made while no worker ran are not missed; more than
  :data:`MAX_CHANGED` changed contacts of a site make it a full refresh.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from shoptrack.identity.crypto import Keyring
from shoptrack.segments.definition import reads_contacts
from shoptrack.segments.membership import Refresh, refresh
from shoptrack.segments.repo import Segment, get_segment, list_segments
from shoptrack.store.db import WriteTurn
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import contacts

log = logging.getLogger(__name__)

MAX_CHANGED = 10_000
# A contact's ``updated_at`` is its transaction's start: one still in flight when a round looks
# commits with an older time; looking back this far catches it (evaluating twice is harmless).
IN_FLIGHT_MS = 60_000


@dataclass
class SegmentRefresher:
    engine: Engine
    interval_s: float = 300.0
    keyring: Keyring | None = None
    # Contacts written at or after this time (ms) are still to be evaluated again.
    contacts_since: int | None = field(default=None)

    def due(self, now: int) -> list[tuple[str, int]]:
        """(site, segment) of the segments not refreshed in full for an interval."""
        with self.engine.connect() as conn:
            return [
                (s.site_id, s.segment_id)
                for s in list_segments(conn)
                if s.refreshed_at is None or now - s.refreshed_at >= self.interval_s * 1000
            ]

    def refresh_due(self) -> list[Refresh]:
        done: list[Refresh] = []
        for site_id, segment_id in self.due(now_ms()):
            with WriteTurn(self.engine)(), self.engine.begin() as conn:
                segment = get_segment(conn, site_id, segment_id)
                done.append(refresh(conn, segment, now_ms(), keyring=self.keyring))
        return done

    def refresh_changed_contacts(self) -> list[Refresh]:
        """The contacts written since the last round, in the segments that read contacts."""
        started = now_ms()
        with self.engine.connect() as conn:
            reading = [s for s in list_segments(conn) if reads_contacts(s.definition)]
        if not reading:
            self.contacts_since = started
            return []
        since = self.contacts_since
        if since is None:
            since = min(s.refreshed_at or 0 for s in reading)
        by_site: dict[str, list[Segment]] = {}
        for segment in reading:
            by_site.setdefault(segment.site_id, []).append(segment)
        done: list[Refresh] = []
        c = contacts.c
        for site_id, site_segments in sorted(by_site.items()):
            with WriteTurn(self.engine)(), self.engine.begin() as conn:
                changed = list(
                    conn.execute(
                        select(c.contact_id)
                        .where(c.site_id == site_id, c.updated_at >= since - IN_FLIGHT_MS)
                        .limit(MAX_CHANGED + 1)
                    ).scalars()
                )
                if not changed:
                    continue
                people = None if len(changed) > MAX_CHANGED else sorted(changed)
                for segment in site_segments:
                    current = get_segment(conn, site_id, segment.segment_id)
                    done.append(
                        refresh(conn, current, now_ms(), contacts=people, keyring=self.keyring)
                    )
        self.contacts_since = started
        return done

    def loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                for result in self.refresh_due() + self.refresh_changed_contacts():
                    if result.entered or result.left:
                        log.info(
                            "segment %s: %s entered, %s left, %s members",
                            result.segment_id, result.entered, result.left, result.members,
                        )  # fmt: skip
            except SQLAlchemyError as exc:  # the store is away: try again next round
                log.warning("segment refresh failed: %s", type(exc).__name__)
            stop.wait(max(1.0, min(self.interval_s, 60.0) - (time.monotonic() - started)))
