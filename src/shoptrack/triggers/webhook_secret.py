"""Each site's webhook signing secret (``whsec_…``, Standard Webhooks), made on first use.

The secret is 32 random bytes, kept in the site's settings (``_webhook_secret``, an internal
key the settings API neither shows nor sets) encrypted with AES-256-GCM bound to the site.
The encryption key is derived from the keyring's index key with its HMAC
(``Keyring.blind_index`` under the purpose ``webhook-secret-key``), not taken from the
rotating data keys: ``keys rotate`` re-encrypts only the columns it knows and then drops old
keys, which would leave a secret inside a JSON setting unreadable; the index key is never
rotated. Deleting the setting makes a new secret on the next send (the receiver must then be
given the new one).
"""

from __future__ import annotations

import base64
import secrets
import threading

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine

from shoptrack.identity.crypto import Keyring
from shoptrack.store.site_settings import get_or_create_internal

SETTING = "_webhook_secret"
PREFIX = "whsec_"
_NONCE = 12


class WebhookSecretError(Exception):
    """The stored secret does not decrypt (another key file, or a tampered setting)."""


class WebhookSecrets:
    def __init__(self, engine: Engine, keyring: Keyring) -> None:
        self.engine = engine
        self.keyring = keyring
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def secret_for(self, site_id: str) -> str:
        """``whsec_<base64 of 32 bytes>``, the form receivers' libraries take."""
        with self._lock:
            cached = self._cache.get(site_id)
        if cached is not None:
            return cached
        stored = get_or_create_internal(
            self.engine, site_id, SETTING, lambda: self._seal(site_id, secrets.token_bytes(32))
        )
        secret = PREFIX + base64.b64encode(self._open(site_id, stored)).decode()
        with self._lock:
            self._cache[site_id] = secret
        return secret

    def _aead(self, site_id: str) -> AESGCM:
        return AESGCM(bytes.fromhex(self.keyring.blind_index(site_id, "webhook-secret-key")))

    def _seal(self, site_id: str, raw: bytes) -> str:
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._aead(site_id).encrypt(nonce, raw, site_id.encode())
        return base64.b64encode(nonce + sealed).decode()

    def _open(self, site_id: str, stored: str) -> bytes:
        try:
            blob = base64.b64decode(stored)
            return self._aead(site_id).decrypt(blob[:_NONCE], blob[_NONCE:], site_id.encode())
        except (ValueError, InvalidTag):
            raise WebhookSecretError(
                f"site {site_id}'s webhook secret does not decrypt with this key file"
            ) from None
