"""Signed browser identities: the shop's server vouches for who a visitor is.

Anyone can send ``CustomerData`` with someone else's e-mail from a browser. Without more, that
links the sender's visitor to the victim's contact, and the sender's events join the victim's
history. So a site may hold a secret (made here, shown once, kept encrypted with the keyring
in ``sites.identity_secret_enc``) and its server, which knows who is logged in, signs the
identity it prints into the page:

    user_hash = hex(HMAC-SHA256(key = the secret as UTF-8, message = the identifier as UTF-8))

The identifier is the value exactly as the page sends it (``externalCustomerId``,
``user_email``, ``user_phone`` or ``user_es_contact_id``; a number as its decimal string); one
signature vouches for the identifiers it matches. How the identity processor treats an identity
that came without the site's API key (a browser's, or keyless ``/api/v2``; one sent with the
key is the server's word already, ``events.identity.API_KEY_MARK``):

* a valid signature: the identifiers it matches link the visitor as always; with
  ``require_signed_identity`` on, the event's other identifiers are dropped (a signed e-mail
  cannot carry a victim's phone along);
* a signature that matches nothing (wrong secret, value changed after signing): a claim;
* no signature: linked as before when the site does not require signing, else a claim.

A claim links nothing, creates no contact and no pending identity (a pending identity would
link the sender as soon as the shop creates the victim's contact); it stays, encrypted, in the
event log only. When the same visitor later sends a valid signature, it is linked like any
visitor, and its earlier events, the claim's page included, join that (verified) contact.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine

from shoptrack.errors import Reason, ShoptrackError
from shoptrack.events.identity import API_KEY_MARK
from shoptrack.identity.crypto import KeyMaterialError, Keyring
from shoptrack.identity.normalize import is_identifier_key
from shoptrack.store.site_settings import (
    SiteSettings,
    read_identity_secret,
    write_identity_secret,
)

SIGNATURE_KEY = "user_hash"
NEW_SECRET = "new"
SECRET_FIELD = "identity_secret"


def purpose_identity_secret(site_id: str) -> bytes:
    """Bound to the site: a secret's ciphertext copied to another site does not decrypt."""
    return b"identity-secret\x00" + site_id.encode()


def sign(secret: str, value: str) -> str:
    """What the shop's server computes: hex HMAC-SHA256 of ``value`` under ``secret``."""
    return hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()


def new_identity_secret(engine: Engine, keyring: Keyring, site_id: str) -> str:
    """Make (or replace) the site's secret; the plain value is returned once, never again.
    Pages signed with the old secret stop verifying at once."""
    secret = secrets.token_hex(32)
    ciphertext = keyring.encrypt(secret.encode(), purpose_identity_secret(site_id))
    with engine.begin() as conn:
        write_identity_secret(conn, site_id, ciphertext)
    return secret


def load_identity_secret(conn: Connection, keyring: Keyring, site_id: str) -> str | None:
    """The site's secret, or ``None`` (none made, or its key is gone: nothing verifies)."""
    ciphertext = read_identity_secret(conn, site_id)
    if ciphertext is None:
        return None
    try:
        return keyring.decrypt(ciphertext, purpose_identity_secret(site_id)).decode()
    except (KeyMaterialError, UnicodeDecodeError):
        return None


class Signature(StrEnum):
    SERVER = "server"  # sent with the API key (REST, import)
    VALID = "valid"
    INVALID = "invalid"
    ABSENT = "absent"


@dataclass(frozen=True, slots=True)
class CheckedIdentity:
    """An event's identity with what may link a visitor: ``claim`` when nothing may."""

    identity: dict[str, Any]
    signature: Signature
    claim: bool


def check_identity(identity: dict[str, Any], secret: str | None, required: bool) -> CheckedIdentity:
    """The identity with its signature and marks removed and, as the rules above say, the
    identifiers that may not link a visitor removed too."""
    signature: Any = None
    rest: dict[str, Any] = {}
    for key, value in identity.items():
        if key.lower() == SIGNATURE_KEY:
            signature = value
        elif key != API_KEY_MARK:
            rest[key] = value
    # Events stored before the collector marked identities count as unvouched for.
    if identity.get(API_KEY_MARK) is True:
        return CheckedIdentity(rest, Signature.SERVER, False)
    if signature is None or secret is None:
        # Without a secret nothing can be verified: a signature then counts as absent.
        if not required:
            return CheckedIdentity(rest, Signature.ABSENT, False)
        return CheckedIdentity(_without_identifiers(rest, set()), Signature.ABSENT, True)
    verified = _signed_keys(rest, secret, signature)
    if not verified:
        return CheckedIdentity(_without_identifiers(rest, set()), Signature.INVALID, True)
    kept = _without_identifiers(rest, verified) if required else rest
    return CheckedIdentity(kept, Signature.VALID, False)


def _signed_keys(identity: dict[str, Any], secret: str, signature: Any) -> set[str]:
    if not isinstance(signature, str):
        return set()
    given = signature.strip().lower().encode()
    signed: set[str] = set()
    for key, value in identity.items():
        if not is_identifier_key(key) or isinstance(value, bool):
            continue
        if isinstance(value, str | int):
            expected = sign(secret, str(value)).encode()
            # Constant time: the comparison must not tell an attacker how much matched.
            if hmac.compare_digest(expected, given):
                signed.add(key)
    return signed


def _without_identifiers(identity: dict[str, Any], keep: set[str]) -> dict[str, Any]:
    return {k: v for k, v in identity.items() if k in keep or not is_identifier_key(k)}


def configure_site(
    engine: Engine, keyring: Keyring, site_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change a site's settings and, with ``identity_secret: "new"``, make its secret first
    (so one request may make it and require signing). The answer shows the new secret once."""
    changes = dict(changes)
    secret: str | None = None
    if SECRET_FIELD in changes:
        if changes.pop(SECRET_FIELD) != NEW_SECRET:
            raise ShoptrackError(
                Reason.INVALID_VALUE,
                f'{SECRET_FIELD}: the only value is "new" (make or replace the secret)',
                SECRET_FIELD,
            )
        secret = new_identity_secret(engine, keyring, site_id)
    store = SiteSettings(engine)
    values = store.update(site_id, changes) if changes or secret else store.get(site_id)
    return site_settings_view(engine, site_id, values, secret)


def site_settings_view(
    engine: Engine, site_id: str, values: dict[str, Any], secret: str | None = None
) -> dict[str, Any]:
    """What the API and the CLI show: the settings, and whether a secret exists (its value
    only right after it was made)."""
    with engine.connect() as conn:
        has_secret = read_identity_secret(conn, site_id) is not None
    view: dict[str, Any] = {"site_id": site_id, "settings": values}
    view["identity_secret_set"] = has_secret
    if secret is not None:
        view[SECRET_FIELD] = secret
    return view
