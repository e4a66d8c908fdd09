"""Slowing down repeated failed sign-ins, per account and per address.

After ``free_failures`` failures within ``window_ms`` against the same account (or from the
same address), each further attempt must wait: 2 s after the last failure, doubling with every
failure, up to ``max_delay_ms``. A correct password during the wait is refused too (else the
wait would not slow a guesser); a successful sign-in clears the account's failures. Counting
both the account and the address slows one address trying many accounts and many addresses
trying one account.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, insert, select

from shoptrack.store import tables as t
from shoptrack.store.sql import now_ms

FIRST_DELAY_MS = 2_000


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int = 5
    window_ms: int = 15 * 60 * 1000
    max_delay_ms: int = 15 * 60 * 1000


def subjects(email: str, address: str | None) -> list[str]:
    keys = [f"account:{email.strip().lower()[:320]}"]
    if address:
        keys.append(f"address:{address[:64]}")
    return keys


class LoginThrottle:
    def __init__(self, engine: Engine, policy: ThrottlePolicy | None = None) -> None:
        self.engine = engine
        self.policy = policy or ThrottlePolicy()

    def wait_ms(self, email: str, address: str | None, now: int | None = None) -> int:
        """How long the next attempt for this account from this address must still wait."""
        now = now_ms() if now is None else now
        since = now - self.policy.window_ms
        wait = 0
        with self.engine.connect() as conn:
            for subject in subjects(email, address):
                count, last = conn.execute(
                    select(func.count(), func.max(t.dashboard_login_failures.c.failed_at)).where(
                        t.dashboard_login_failures.c.subject == subject,
                        t.dashboard_login_failures.c.failed_at > since,
                    )
                ).one()
                over = count - self.policy.free_failures
                if over >= 0 and last is not None:
                    delay = min(FIRST_DELAY_MS << min(over, 20), self.policy.max_delay_ms)
                    wait = max(wait, last + delay - now)
        return max(wait, 0)

    def failed(self, email: str, address: str | None, now: int | None = None) -> None:
        now = now_ms() if now is None else now
        with self.engine.begin() as conn:
            conn.execute(
                delete(t.dashboard_login_failures).where(
                    t.dashboard_login_failures.c.failed_at <= now - self.policy.window_ms
                )
            )
            conn.execute(
                insert(t.dashboard_login_failures),
                [{"subject": s, "failed_at": now} for s in subjects(email, address)],
            )

    def succeeded(self, email: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(t.dashboard_login_failures).where(
                    t.dashboard_login_failures.c.subject == subjects(email, None)[0]
                )
            )
