"""Dashboard users and the sites each may see (``users create/list/delete/grant``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Row, delete, insert, select, update

from shoptrack.accounts.passwords import hash_password, needs_rehash, verify_password
from shoptrack.errors import Conflict, NotFound, Reason, ShoptrackError
from shoptrack.store import tables as t
from shoptrack.store.sites_repo import SiteRepository
from shoptrack.store.sql import now_ms

MAX_EMAIL_LENGTH = 320


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    is_admin: bool
    created_at: int
    last_login_at: int | None
    # The sites granted by name; an admin sees every site whatever this holds.
    granted_sites: tuple[str, ...] = ()


def normalize_email(value: str) -> str:
    """The login name: trimmed and lower-cased; refused unless it looks like an address."""
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > MAX_EMAIL_LENGTH:
        raise ShoptrackError(Reason.INVALID_VALUE, "email: not an e-mail address", "email")
    if any(ch.isspace() for ch in email):
        raise ShoptrackError(Reason.INVALID_VALUE, "email: must not contain spaces", "email")
    return email


class UserRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, email: str, password: str, *, is_admin: bool = False) -> User:
        email = normalize_email(email)
        password_hash = hash_password(password)
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(t.dashboard_users.c.user_id).where(t.dashboard_users.c.email == email)
            ).first()
            if exists is not None:
                raise Conflict(f"email: a user {email} exists already", "email")
            user = User(f"u_{secrets.token_hex(8)}", email, is_admin, now_ms(), None)
            conn.execute(
                insert(t.dashboard_users).values(
                    user_id=user.user_id,
                    email=email,
                    password_hash=password_hash,
                    is_admin=is_admin,
                    created_at=user.created_at,
                )
            )
        return user

    def get(self, user_id: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.dashboard_users).where(t.dashboard_users.c.user_id == user_id)
            ).first()
            if row is None:
                return None
            sites = conn.execute(
                select(t.dashboard_user_sites.c.site_id)
                .where(t.dashboard_user_sites.c.user_id == user_id)
                .order_by(t.dashboard_user_sites.c.site_id)
            ).scalars()
            return _user(row, tuple(sites))

    def by_email(self, email: str) -> User:
        with self.engine.connect() as conn:
            user_id = conn.execute(
                select(t.dashboard_users.c.user_id).where(
                    t.dashboard_users.c.email == normalize_email(email)
                )
            ).scalar()
        user = self.get(user_id) if user_id is not None else None
        if user is None:
            raise NotFound(f"email: no user {email.strip().lower()}", "email")
        return user

    def all(self) -> list[User]:
        with self.engine.connect() as conn:
            grants: dict[str, list[str]] = {}
            for user_id, site_id in conn.execute(
                select(t.dashboard_user_sites.c.user_id, t.dashboard_user_sites.c.site_id)
            ):
                grants.setdefault(user_id, []).append(site_id)
            rows = conn.execute(select(t.dashboard_users).order_by(t.dashboard_users.c.email))
            return [_user(row, tuple(sorted(grants.get(row.user_id, [])))) for row in rows]

    def delete(self, email: str) -> User:
        user = self.by_email(email)
        with self.engine.begin() as conn:
            for table in (t.dashboard_sessions, t.dashboard_user_sites, t.dashboard_users):
                conn.execute(delete(table).where(table.c.user_id == user.user_id))
        return user

    def grant(self, email: str, site_id: str) -> User:
        user = self.by_email(email)
        if SiteRepository(self.engine).get(site_id) is None:
            raise NotFound(f"site: no site {site_id!r}", "site")
        if site_id not in user.granted_sites:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(t.dashboard_user_sites).values(
                        user_id=user.user_id, site_id=site_id, granted_at=now_ms()
                    )
                )
        return self.by_email(email)

    def revoke(self, email: str, site_id: str) -> User:
        user = self.by_email(email)
        with self.engine.begin() as conn:
            conn.execute(
                delete(t.dashboard_user_sites).where(
                    t.dashboard_user_sites.c.user_id == user.user_id,
                    t.dashboard_user_sites.c.site_id == site_id,
                )
            )
        return self.by_email(email)

    def set_password(self, email: str, password: str) -> User:
        user = self.by_email(email)
        self._store_hash(user.user_id, hash_password(password))
        return user

    def authenticate(self, email: str, password: str) -> User | None:
        """The user when the password matches; ``None`` otherwise (unknown e-mail included,
        at the cost of one hash so the timing does not tell)."""
        try:
            login = normalize_email(email)
        except ShoptrackError:
            login = ""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t.dashboard_users.c.user_id, t.dashboard_users.c.password_hash).where(
                    t.dashboard_users.c.email == login
                )
            ).first()
        if not verify_password(row.password_hash if row else None, password) or row is None:
            return None
        if needs_rehash(row.password_hash):
            self._store_hash(row.user_id, hash_password(password))
        with self.engine.begin() as conn:
            conn.execute(
                update(t.dashboard_users)
                .where(t.dashboard_users.c.user_id == row.user_id)
                .values(last_login_at=now_ms())
            )
        return self.get(row.user_id)

    def visible_sites(self, user: User) -> list[tuple[str, str]]:
        """(site id, name) of the sites the user may see: all of them for an admin."""
        sites = SiteRepository(self.engine).list()
        return [
            (site.site_id, site.name)
            for site in sites
            if user.is_admin or site.site_id in user.granted_sites
        ]

    def _store_hash(self, user_id: str, password_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(t.dashboard_users)
                .where(t.dashboard_users.c.user_id == user_id)
                .values(password_hash=password_hash)
            )


def _user(row: Row[Any], sites: tuple[str, ...]) -> User:
    return User(
        user_id=row.user_id,
        email=row.email,
        is_admin=bool(row.is_admin),
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        granted_sites=sites,
    )
