"""Each processor's lag behind the event log, read from the store when Prometheus scrapes.

Computed, not counted: the cursors and the log's tail are in the store already, whichever
process moved them, so a scrape reads them (one query for the tail, one for the cursors, one
primary-key lookup per distinct lagging cursor) instead of every process keeping a gauge.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from shoptrack.metrics.exposition import Collector, GaugeMetricFamily, Metric
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import events, processor_cursors

log = logging.getLogger(__name__)


class ProcessorLag(Collector):
    """``shoptrack_processor_lag_events`` and ``…_seconds`` for the named processors."""

    def __init__(self, engine: Engine, processors: Sequence[str]) -> None:
        self.engine = engine
        self.processors = list(processors)

    def collect(self) -> Iterator[Metric]:
        try:
            lags = self.lags()
        except SQLAlchemyError as exc:
            # The scrape still answers (the counters matter most when the store is in trouble).
            log.warning("processor lag not read: store error %s", type(exc).__name__)
            return
        behind = GaugeMetricFamily(
            "shoptrack_processor_lag_events",
            "Sequence numbers between a processor's cursor and the log's last event "
            "(PostgreSQL's holes in seq count too: an upper bound there).",
            labels=["processor"],
        )
        age = GaugeMetricFamily(
            "shoptrack_processor_lag_seconds",
            "Age of the oldest event a processor has not read yet; 0 when it is caught up.",
            labels=["processor"],
        )
        for name, (events_behind, seconds) in lags.items():
            behind.add_metric([name], events_behind)
            age.add_metric([name], seconds)
        yield behind
        yield age

    def lags(self) -> dict[str, tuple[int, float]]:
        """Per processor: (events behind, seconds since the first unread event was received)."""
        now = now_ms()
        oldest_after: dict[int, int | None] = {}
        out: dict[str, tuple[int, float]] = {}
        with self.engine.connect() as conn:
            last = int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())
            c = processor_cursors.c
            positions = {
                str(name): int(position)
                for name, position in conn.execute(select(c.name, c.position)).all()
            }
            for name in self.processors:
                position = positions.get(name, 0)
                if position >= last:
                    out[name] = (0, 0.0)
                    continue
                if position not in oldest_after:
                    first = (
                        select(events.c.received_at)
                        .where(events.c.seq > position)
                        .order_by(events.c.seq)
                        .limit(1)
                    )
                    received = conn.execute(first).scalar()
                    oldest_after[position] = None if received is None else int(received)
                received_at = oldest_after[position]
                seconds = 0.0 if received_at is None else max(0, now - received_at) / 1000
                out[name] = (last - position, seconds)
        return out
