"""The worker's full refresh of every segment every ``segment_refresh_s``: time alone moves
people out of windows ("viewed in the last 7 days") and into conditions like "last order
more than 30 days ago"; events only cover the people they are about."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shoptrack.segments.membership import Refresh, refresh
from shoptrack.segments.repo import get_segment, list_segments
from shoptrack.store.db import WriteTurn
from shoptrack.store.sql import now_ms

log = logging.getLogger(__name__)


@dataclass
class SegmentRefresher:
    engine: Engine
    interval_s: float = 300.0

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
                done.append(refresh(conn, segment, now_ms()))
        return done

    def loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                for result in self.refresh_due():
                    if result.entered or result.left:
                        log.info(
                            "segment %s: %s entered, %s left, %s members",
                            result.segment_id, result.entered, result.left, result.members,
                        )  # fmt: skip
            except SQLAlchemyError as exc:  # the store is away: try again next round
                log.warning("segment refresh failed: %s", type(exc).__name__)
            stop.wait(max(1.0, min(self.interval_s, 60.0) - (time.monotonic() - started)))
