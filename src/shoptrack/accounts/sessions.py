"""Sign-in sessions: a random cookie value, stored only as its SHA-256, with the session's CSRF
token beside it. A session ends at its expiry, at sign-out, or when its user is deleted."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select

from shoptrack.store import tables as t
from shoptrack.store.sql import now_ms


@dataclass(frozen=True)
class Session:
    user_id: str
    csrf_token: str
    created_at: int
    expires_at: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class SessionStore:
    def __init__(self, engine: Engine, lifetime_ms: int) -> None:
        self.engine = engine
        self.lifetime_ms = lifetime_ms

    def open(self, user_id: str) -> tuple[str, Session]:
        """A new session for the user: the cookie value (shown to the browser only) and the
        session. Expired sessions of every user are swept on the way."""
        token = secrets.token_urlsafe(32)
        now = now_ms()
        session = Session(user_id, secrets.token_urlsafe(32), now, now + self.lifetime_ms)
        with self.engine.begin() as conn:
            conn.execute(
                delete(t.dashboard_sessions).where(t.dashboard_sessions.c.expires_at < now)
            )
            conn.execute(
                insert(t.dashboard_sessions).values(
                    token_hash=_digest(token),
                    user_id=user_id,
                    csrf_token=session.csrf_token,
                    created_at=now,
                    expires_at=session.expires_at,
                )
            )
        return token, session

    def find(self, token: str) -> Session | None:
        """The live session of a cookie value, or ``None`` (unknown or expired)."""
        if not token or len(token) > 200:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.dashboard_sessions).where(
                    t.dashboard_sessions.c.token_hash == _digest(token)
                )
            ).first()
        if row is None or row.expires_at <= now_ms():
            return None
        return Session(row.user_id, row.csrf_token, row.created_at, row.expires_at)

    def close(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(t.dashboard_sessions).where(
                    t.dashboard_sessions.c.token_hash == _digest(token)
                )
            )


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())
