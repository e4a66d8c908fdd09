"""Refused events a page at a time, with the bodies as sent, for the shop's developer.

The collector keeps every refused body encrypted (``service.py``, purpose
``PURPOSE_REJECTED_BODY``): it may hold e-mails and phones. Here the bodies of one page are
opened with the process's keyring, for a signed-in user of that site only (the dashboard
checks that), and shown as pretty-printed JSON when they parse, as text otherwise. Filters by
reason code and by step read the indexes ``(site_id, code, seq)`` and ``(site_id, step,
seq)``: a broken integration can refuse millions of events, and a rare code must not mean a
walk through all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, Select, select

from shoptrack.collector.pipeline import STEPS
from shoptrack.identity.crypto import PURPOSE_REJECTED_BODY, KeyMaterialError, Keyring
from shoptrack.store.newest_first import newest_first
from shoptrack.store.tables import rejected_events

# Every step a rejection can name: the per-event pipeline's, then those around it.
KNOWN_STEPS = (
    *(name for name, _ in STEPS),
    "read",
    "parse",
    "limits",
    "envelope",
    "site",
    "auth",
    "cart",
)


@dataclass(frozen=True, slots=True)
class RejectedFilter:
    code: str | None = None
    step: str | None = None
    before_seq: int | None = None


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    seq: int
    received_at: int
    source: str
    endpoint: str
    code: str
    step: str | None
    field: str | None
    message: str
    event_id: str | None
    body_size: int  # as sent; the body kept may be only its first part
    body: str  # pretty-printed JSON, or the bytes as text
    body_kept: int
    body_is_json: bool
    problem: str | None = None  # why the body cannot be shown


@dataclass(frozen=True, slots=True)
class RejectedPage:
    rejected: list[RejectedEvent]
    older: int | None


def readable_body(raw: bytes) -> tuple[str, bool]:
    """(the body for a person to read, whether it is JSON)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", errors="replace"), False
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode(), True


def _open(keyring: Keyring, row: Any) -> RejectedEvent:
    body, kept, is_json, problem = "", 0, False, None
    try:
        raw = keyring.decrypt(row.body_enc, PURPOSE_REJECTED_BODY)
        kept = len(raw)
        body, is_json = readable_body(raw)
    except KeyMaterialError as error:
        problem = f"the body cannot be decrypted: {error}"
    return RejectedEvent(
        seq=int(row.seq),
        received_at=row.received_at,
        source=row.source,
        endpoint=row.endpoint,
        code=row.code,
        step=row.step,
        field=row.field,
        message=row.message,
        event_id=row.event_id,
        body_size=row.body_size,
        body=body,
        body_kept=kept,
        body_is_json=is_json,
        problem=problem,
    )


def rejected_statement(
    dialect: str, site_id: str, wanted: RejectedFilter, limit: int
) -> Select[Any]:
    """One page's query: newest first on the site's index by code, by step, or by seq."""
    r = rejected_events.c
    # One filter is the index's key (newest_first), the other, if any, a plain condition.
    key, rest = None, None
    if wanted.code:
        key = (r.code, wanted.code)
        rest = r.step == wanted.step if wanted.step else None
    elif wanted.step:
        key = (r.step, wanted.step)
    where, order = newest_first(dialect, r.site_id, site_id, r.seq, wanted.before_seq, key)
    if rest is not None:
        where.append(rest)
    return select(rejected_events).where(*where).order_by(*order).limit(limit)


def rejected_page(
    engine: Engine, keyring: Keyring, site_id: str, wanted: RejectedFilter, limit: int = 50
) -> RejectedPage:
    """One page of the site's refused events, newest first, bodies decrypted."""
    stmt = rejected_statement(engine.dialect.name, site_id, wanted, limit + 1)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    shown = [_open(keyring, row) for row in rows[:limit]]
    older = shown[-1].seq if len(rows) > limit else None
    return RejectedPage(shown, older)
