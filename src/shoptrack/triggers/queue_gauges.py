"""The trigger queue's depth, read from the store when Prometheus scrapes.

Messages wait in ``trigger_messages`` (status ``pending`` until sent, ``sending`` during an
attempt): the store holds the queue, so a scrape counts it there, through the
``(status, next_attempt_at)`` index, rather than each process keeping a gauge.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from shoptrack.metrics.exposition import Collector, GaugeMetricFamily, Metric
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import trigger_messages
from shoptrack.triggers.model import MessageStatus

log = logging.getLogger(__name__)

_QUEUED = (MessageStatus.PENDING.value, MessageStatus.SENDING.value)


class TriggerQueue(Collector):
    """``shoptrack_trigger_queue_messages{status}`` and ``shoptrack_trigger_due_messages``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        m = trigger_messages.c
        try:
            with self.engine.connect() as conn:
                counts = dict.fromkeys(_QUEUED, 0)
                by_status = (
                    select(m.status, func.count()).where(m.status.in_(_QUEUED)).group_by(m.status)
                )
                for status, count in conn.execute(by_status).all():
                    counts[str(status)] = int(count)
                due = conn.execute(
                    select(func.count()).where(
                        m.status == MessageStatus.PENDING.value, m.next_attempt_at <= now_ms()
                    )
                ).scalar_one()
        except SQLAlchemyError as exc:
            log.warning("trigger queue not read: store error %s", type(exc).__name__)
            return
        queued = GaugeMetricFamily(
            "shoptrack_trigger_queue_messages",
            "Trigger messages waiting to be sent (pending) or being sent (sending).",
            labels=["status"],
        )
        for status, count in counts.items():
            queued.add_metric([status], count)
        yield queued
        yield GaugeMetricFamily(
            "shoptrack_trigger_due_messages",
            "Pending trigger messages whose send time has come (a growing number: the sender "
            "is behind or stopped).",
            value=int(due),
        )
