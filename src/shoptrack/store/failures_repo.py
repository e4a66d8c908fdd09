"""Events a processor could not handle: rows of ``processor_failures`` and their reason text.

A failure is "retrying" (tried again at ``next_attempt_at``, the delay doubling per attempt)
until it has failed ``max_attempts`` times, then "skipped" until a replay succeeds
("resolved"). Every function here runs in the caller's transaction: the runner's, which holds
the processor's cursor, so one processor's failures have one writer at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select, update
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql.elements import ColumnElement

from shoptrack.events.model import iso_ms
from shoptrack.store.tables import events, processor_failures

RETRYING = "retrying"
SKIPPED = "skipped"
RESOLVED = "resolved"
STATUSES = (RETRYING, SKIPPED, RESOLVED)
OPEN_STATUSES = (RETRYING, SKIPPED)
# Longest wait between two attempts, however many there were.
MAX_BACKOFF_S = 600.0
_MAX_REASON = 500

F = processor_failures.c


@dataclass(frozen=True, slots=True)
class Failure:
    failure_id: int
    site_id: str
    processor: str
    seq: int
    event_id: str
    status: str
    reason: str
    attempts: int
    first_failed_at: int
    last_failed_at: int
    next_attempt_at: int | None
    resolved_at: int | None

    def as_json(self) -> dict[str, Any]:
        """The API's and the CLI's form: times in ISO 8601 UTC with milliseconds."""
        return {
            "id": self.failure_id,
            "processor": self.processor,
            "site_id": self.site_id,
            "seq": self.seq,
            "event_id": self.event_id,
            "status": self.status,
            "reason": self.reason,
            "attempts": self.attempts,
            "first_failed_at": iso_ms(self.first_failed_at),
            "last_failed_at": iso_ms(self.last_failed_at),
            "next_attempt_at": iso_ms(self.next_attempt_at),
            "resolved_at": iso_ms(self.resolved_at),
        }


def failure_reason(exc: BaseException) -> str:
    """The exception's type and message, never SQL text or its parameters.

    SQLAlchemy's message of a failed statement carries the statement and its parameters, which
    are values from the event; only the driver's primary message is kept (PostgreSQL's DETAIL
    line, which repeats key values, is left out too). An error raised while binding parameters
    keeps only its type: its message may quote the value.
    """
    if isinstance(exc, DBAPIError):
        message = _driver_message(exc.orig)
        if message.startswith(f"{type(exc).__name__}: "):  # SQLAlchemy's class names the driver's
            message = message[len(type(exc).__name__) + 2 :]
    elif isinstance(exc, StatementError):
        message = type(exc.orig).__name__ if exc.orig is not None else ""
    else:
        message = str(exc)
    # Messages quote the value they choke on ("invalid input syntax for type integer: "…"",
    # int('anna@…')): every quoted part is blanked, so no value of the event is kept or logged.
    text = _QUOTED.sub(_blank, " ".join(message.split()))
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return reason[:_MAX_REASON]


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|«[^»]*»")


def _blank(match: re.Match[str]) -> str:
    quote = match.group(0)[0]
    return f"{quote}…{'»' if quote == '«' else quote}"


def _driver_message(orig: BaseException | None) -> str:
    if orig is None:
        return ""
    diag = getattr(orig, "diag", None)  # psycopg: the primary message without DETAIL
    primary = getattr(diag, "message_primary", None)
    lines = (primary if isinstance(primary, str) else str(orig)).splitlines()
    return f"{type(orig).__name__}: {lines[0]}" if lines else type(orig).__name__


def backoff_s(base_s: float, attempts: int) -> float:
    """The wait after the ``attempts``-th failure: ``base_s`` doubled per attempt, capped."""
    return float(min(base_s * 2 ** max(0, attempts - 1), MAX_BACKOFF_S))


def record_failure(
    conn: Connection,
    processor: str,
    seq: int,
    reason: str,
    now_ms: int,
    max_attempts: int,
    base_backoff_s: float,
) -> Failure:
    """One more failed attempt of the event ``seq``; skipped once attempts reach the limit."""
    existing = conn.execute(
        select(F.attempts, F.status).where(F.processor == processor, F.seq == seq)
    ).first()
    # A resolved failure that fails again (a rebuilt processor) starts counting afresh.
    reopened = existing is None or existing.status == RESOLVED
    attempts = 1 if existing is None or reopened else int(existing.attempts) + 1
    skipped = attempts >= max_attempts
    wait_ms = int(backoff_s(base_backoff_s, attempts) * 1000)
    values: dict[str, Any] = {
        "status": SKIPPED if skipped else RETRYING,
        "reason": reason,
        "attempts": attempts,
        "last_failed_at": now_ms,
        "next_attempt_at": None if skipped else now_ms + wait_ms,
        "resolved_at": None,
    }
    if existing is None:
        event = conn.execute(
            select(events.c.site_id, events.c.event_id).where(events.c.seq == seq)
        ).first()
        conn.execute(
            insert(processor_failures).values(
                site_id=str(event.site_id) if event else "",
                event_id=str(event.event_id) if event else "",
                processor=processor,
                seq=seq,
                first_failed_at=now_ms,
                **values,
            )
        )
    else:
        if reopened:
            values["first_failed_at"] = now_ms
        conn.execute(
            update(processor_failures)
            .where(F.processor == processor, F.seq == seq)
            .values(**values)
        )
    return _one(conn, processor, seq)


def mark_resolved(conn: Connection, processor: str, seq: int, now_ms: int) -> None:
    conn.execute(
        update(processor_failures)
        .where(F.processor == processor, F.seq == seq)
        .values(status=RESOLVED, resolved_at=now_ms, next_attempt_at=None)
    )


def has_due(conn: Connection, processor: str, now_ms: int) -> bool:
    due = exists().where(
        F.processor == processor, F.status == RETRYING, F.next_attempt_at <= now_ms
    )
    return bool(conn.execute(select(due)).scalar())


def due_seqs(conn: Connection, processor: str, now_ms: int, limit: int) -> list[int]:
    stmt = (
        select(F.seq)
        .where(F.processor == processor, F.status == RETRYING, F.next_attempt_at <= now_ms)
        .order_by(F.seq)
        .limit(limit)
    )
    return [int(s) for s in conn.execute(stmt).scalars()]


def requeue_skipped(
    conn: Connection, now_ms: int, site_id: str | None = None, processor: str | None = None
) -> list[int]:
    """Skipped failures due for one more attempt now (a replay); their ids."""
    where: list[ColumnElement[bool]] = [F.status == SKIPPED]
    if site_id is not None:
        where.append(F.site_id == site_id)
    if processor is not None:
        where.append(F.processor == processor)
    ids = [int(i) for i in conn.execute(select(F.failure_id).where(*where)).scalars()]
    if ids:
        conn.execute(
            update(processor_failures)
            .where(F.failure_id.in_(ids))
            .values(status=RETRYING, next_attempt_at=now_ms)
        )
    return ids


def forget_failures(conn: Connection, processor: str) -> None:
    """A processor replaying the whole log from the start meets its failures again."""
    conn.execute(delete(processor_failures).where(F.processor == processor))


def list_failures(
    conn: Connection,
    *,
    site_id: str | None = None,
    statuses: Iterable[str] = OPEN_STATUSES,
    before: int | None = None,
    limit: int = 100,
) -> list[Failure]:
    """Newest first; ``before`` is the ``id`` the previous page ended with."""
    where: list[ColumnElement[bool]] = [F.status.in_(list(statuses))]
    if site_id is not None:
        where.append(F.site_id == site_id)
    if before is not None:
        where.append(F.failure_id < before)
    stmt = select(processor_failures).where(*where).order_by(F.failure_id.desc()).limit(limit)
    return [_failure(row) for row in conn.execute(stmt)]


def failures_by_id(conn: Connection, ids: Sequence[int]) -> list[Failure]:
    if not ids:
        return []
    stmt = select(processor_failures).where(F.failure_id.in_(list(ids))).order_by(F.failure_id)
    return [_failure(row) for row in conn.execute(stmt)]


def processor_names(conn: Connection) -> set[str]:
    return {str(name) for name in conn.execute(select(F.processor).distinct()).scalars()}


def _one(conn: Connection, processor: str, seq: int) -> Failure:
    row = conn.execute(
        select(processor_failures).where(F.processor == processor, F.seq == seq)
    ).one()
    return _failure(row)


def _failure(row: Any) -> Failure:
    return Failure(
        failure_id=int(row.failure_id),
        site_id=str(row.site_id),
        processor=str(row.processor),
        seq=int(row.seq),
        event_id=str(row.event_id),
        status=str(row.status),
        reason=str(row.reason),
        attempts=int(row.attempts),
        first_failed_at=int(row.first_failed_at),
        last_failed_at=int(row.last_failed_at),
        next_attempt_at=None if row.next_attempt_at is None else int(row.next_attempt_at),
        resolved_at=None if row.resolved_at is None else int(row.resolved_at),
    )
