"""Sites (shops) and their API keys. Keys are shown once and stored as SHA-256 hashes.

A key is 256 random bits, so a fast hash is enough: there is nothing to brute-force that a
slow password hash would protect.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from shoptrack.errors import Reason, ShoptrackError
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import api_keys, sites

API_KEY_PREFIX = "stk_"
# The one rule for site ids (ASCII: they travel in URLs, script paths and cache keys).
_SITE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def is_valid_site_id(value: str) -> bool:
    return bool(_SITE_ID.match(value))


@dataclass(frozen=True, slots=True)
class Site:
    site_id: str
    name: str
    created_at: int


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class SiteRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, name: str, site_id: str | None = None) -> tuple[Site, str]:
        """A new site and its first API key (returned in clear this once only)."""
        name = name.strip()
        if not name:
            raise ShoptrackError(Reason.INVALID_VALUE, "a site needs a name", "name")
        site_id = (site_id or secrets.token_hex(8)).strip()
        if not is_valid_site_id(site_id):
            raise ShoptrackError(
                Reason.INVALID_VALUE, "a site id is 1-64 letters, digits, '-' or '_'", "site_id"
            )
        now = now_ms()
        site = Site(site_id, name, now)
        try:
            with self.engine.begin() as conn:
                conn.execute(sites.insert().values(site_id=site_id, name=name, created_at=now))
                key = self._insert_key(conn, site_id, now)
        except IntegrityError:
            raise ShoptrackError(
                Reason.INVALID_VALUE, f"site {site_id!r} already exists", "site_id"
            ) from None
        return site, key

    def create_key(self, site_id: str) -> str:
        with self.engine.begin() as conn:
            return self._insert_key(conn, site_id, now_ms())

    @staticmethod
    def _insert_key(conn: Connection, site_id: str, now: int) -> str:
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        conn.execute(
            api_keys.insert().values(
                key_hash=hash_api_key(key), site_id=site_id, prefix=key[:10], created_at=now
            )
        )
        return key

    def get(self, site_id: str) -> Site | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(sites).where(sites.c.site_id == site_id)).first()
        return Site(row.site_id, row.name, row.created_at) if row else None

    def list(self) -> list[Site]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(sites).order_by(sites.c.created_at)).all()
        return [Site(r.site_id, r.name, r.created_at) for r in rows]

    def site_for_key(self, key: str) -> str | None:
        stmt = select(api_keys.c.site_id).where(
            api_keys.c.key_hash == hash_api_key(key), api_keys.c.revoked_at.is_(None)
        )
        with self.engine.connect() as conn:
            value = conn.execute(stmt).scalar_one_or_none()
        return str(value) if value is not None else None
