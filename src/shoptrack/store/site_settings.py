"""Per-site settings kept in ``sites.settings`` (a JSON object), read and changed by key.

Known keys are validated here so the CLI and the API accept the same values:

* ``default_region``: ISO 3166 region (``UA``, ``US`` …) for phone numbers written without
  their country code; unset means numbers must carry one (``+380…`` or ``380…``).
* ``auto_create_contacts``: whether an identified visitor with no matching contact becomes a
  contact right away (``true``) or waits as a pending identity for the contacts API
  (``false``); unset follows ``SHOPTRACK_IDENTITY_AUTO_CREATE_CONTACTS``.
* ``require_signed_identity``: browser identities link a visitor to a contact only when the
  shop's server signed them (``user_hash``, identity/signing.py); unsigned ones are claims that
  link nothing. Turning it on needs the site's identity secret to exist.

The identity secret itself is not a setting: it is ``sites.identity_secret_enc``, encrypted
(identity/signing.py makes, encrypts and reads it; here only the bytes are stored).

Keys starting with ``_`` are the server's own (the webhook signing secret, encrypted): never
shown by :meth:`SiteSettings.get` nor settable through it (they are not known settings);
:func:`get_or_create_internal` reads or creates one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import phonenumbers
from sqlalchemy import Connection, Engine, select

from shoptrack.errors import NotFound, Reason, ShoptrackError
from shoptrack.store.tables import sites

KNOWN_SETTINGS = ("default_region", "auto_create_contacts", "require_signed_identity")
REQUIRE_SIGNED = "require_signed_identity"
INTERNAL_PREFIX = "_"


def public_settings(values: dict[str, Any]) -> dict[str, Any]:
    """The settings a site's API key may see: the server's own keys left out."""
    return {name: value for name, value in values.items() if not name.startswith(INTERNAL_PREFIX)}


def _invalid(name: str, message: str) -> ShoptrackError:
    return ShoptrackError(Reason.INVALID_VALUE, f"{name}: {message}", name)


def validate_setting(name: str, value: Any) -> Any:
    """The stored form of one setting, or ShoptrackError naming it. ``None`` unsets it."""
    if name not in KNOWN_SETTINGS:
        raise _invalid(name, f"unknown setting; known: {', '.join(KNOWN_SETTINGS)}")
    if value is None:
        return None
    if name == "default_region":
        if not isinstance(value, str) or value.strip().upper() not in _regions():
            raise _invalid(name, "expected a two-letter region code such as UA, US or DE")
        return value.strip().upper()
    if not isinstance(value, bool):
        raise _invalid(name, "expected true or false")
    return value


def _regions() -> frozenset[str]:
    return frozenset(phonenumbers.SUPPORTED_REGIONS)


def read_settings(conn: Connection, site_id: str) -> dict[str, Any]:
    raw = conn.execute(select(sites.c.settings).where(sites.c.site_id == site_id)).scalar()
    if raw is None:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def read_identity_secret(conn: Connection, site_id: str) -> bytes | None:
    """The site's identity secret as stored (encrypted), or ``None``."""
    stmt = select(sites.c.identity_secret_enc).where(sites.c.site_id == site_id)
    raw = conn.execute(stmt).scalar()
    return bytes(raw) if raw is not None else None


def write_identity_secret(conn: Connection, site_id: str, ciphertext: bytes) -> None:
    """Replace the site's (encrypted) identity secret, or NotFound."""
    stmt = sites.update().where(sites.c.site_id == site_id).values(identity_secret_enc=ciphertext)
    if conn.execute(stmt).rowcount != 1:
        raise NotFound(f"no site {site_id!r}", "site_id")


class SiteSettings:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, site_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            return public_settings(read_settings(conn, site_id))

    def update(self, site_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate and apply ``changes`` (a ``None`` value removes a key); the new settings."""
        clean = {name: validate_setting(name, value) for name, value in changes.items()}
        with self.engine.begin() as conn:
            exists = conn.execute(select(sites.c.site_id).where(sites.c.site_id == site_id))
            if exists.first() is None:
                raise NotFound(f"no site {site_id!r}", "site_id")
            if clean.get(REQUIRE_SIGNED) is True and read_identity_secret(conn, site_id) is None:
                raise _invalid(
                    REQUIRE_SIGNED,
                    "the site has no identity secret to verify signatures with yet: make one "
                    'first (identity_secret: "new", or sites configure --identity-secret new)',
                )
            current = read_settings(conn, site_id)
            for name, value in clean.items():
                if value is None:
                    current.pop(name, None)
                else:
                    current[name] = value
            conn.execute(
                sites.update()
                .where(sites.c.site_id == site_id)
                .values(settings=orjson.dumps(current).decode())
            )
        return public_settings(current)


def get_or_create_internal(engine: Engine, site_id: str, name: str, make: Callable[[], str]) -> str:
    """The site's internal setting ``name``; made by ``make`` and stored on first use.

    The site's row is locked (PostgreSQL ``FOR UPDATE``; SQLite's single writer) while it is
    read and written, so two workers asking at once get the same value.
    """
    if not name.startswith(INTERNAL_PREFIX):
        raise ValueError(f"internal settings start with {INTERNAL_PREFIX!r}: {name!r}")
    with engine.connect() as conn:
        found = read_settings(conn, site_id).get(name)
    if isinstance(found, str):
        return found
    with engine.begin() as conn:
        row = conn.execute(
            select(sites.c.settings).where(sites.c.site_id == site_id).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"no site {site_id!r}", "site_id")
        current = read_settings(conn, site_id)
        found = current.get(name)
        if isinstance(found, str):
            return found
        current[name] = value = make()
        conn.execute(
            sites.update()
            .where(sites.c.site_id == site_id)
            .values(settings=orjson.dumps(current).decode())
        )
    return value
