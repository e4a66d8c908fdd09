"""Encryption of personal data at rest: the whole scheme lives in this module.

Scheme
------
* Data keys are random 256-bit AES keys, each with a short key id (``k1``, ``k2`` …). Exactly
  one is *active*: new ciphertexts use it; older keys stay to decrypt what they wrote.
* A ciphertext is ``b"\\x01" | len(key_id) | key_id | nonce(12) | AES-256-GCM(plaintext)``.
  The key id travels inside every ciphertext, so rotation never needs a flag day: a reader
  picks the key the ciphertext names.
* Every encryption binds a *purpose* (e.g. ``b"event-identity"``) as associated data, so a
  ciphertext copied from one column into another does not decrypt.
* A separate HMAC-SHA256 key (the *index key*) makes blind indexes: a keyed hash of a
  normalized value (an e-mail, a phone number) that allows equality lookups without storing
  the value; it is never used for encryption.
* Keys come from ``SHOPTRACK_ENCRYPTION_KEYS`` (the key file's JSON) or from the key file
  (``SHOPTRACK_KEY_FILE``), which is created on first run with mode 0600. Losing it makes the
  encrypted personal data unreadable: back it up apart from the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_FORMAT_VERSION = 1
_NONCE_BYTES = 12


class KeyMaterialError(Exception):
    """The key material is missing, malformed or does not match a ciphertext."""


@dataclass(frozen=True)
class Keyring:
    active_id: str
    keys: dict[str, bytes]
    index_key: bytes

    # --- loading ----------------------------------------------------------------------
    @classmethod
    def generate(cls) -> Keyring:
        return cls("k1", {"k1": AESGCM.generate_key(bit_length=256)}, secrets.token_bytes(32))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Keyring:
        try:
            data = orjson.loads(raw)
            keys = {kid: base64.b64decode(value) for kid, value in data["keys"].items()}
            ring = cls(data["active"], keys, base64.b64decode(data["index_key"]))
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as exc:
            problem = type(exc).__name__
            raise KeyMaterialError(f"the key material is malformed ({problem})") from None
        if ring.active_id not in ring.keys or any(len(k) != 32 for k in ring.keys.values()):
            raise KeyMaterialError("the key material needs 32-byte keys and an active key id")
        return ring

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "version": _FORMAT_VERSION,
                "active": self.active_id,
                "keys": {kid: base64.b64encode(k).decode() for kid, k in self.keys.items()},
                "index_key": base64.b64encode(self.index_key).decode(),
            },
            option=orjson.OPT_INDENT_2,
        )

    @classmethod
    def load_or_create(cls, key_file: Path, env_value: str | None = None) -> Keyring:
        """Keys from the environment value if given, else the key file (created if absent)."""
        if env_value:
            return cls.from_json(env_value)
        if key_file.exists():
            return cls.from_json(key_file.read_bytes())
        ring = cls.generate()
        key_file.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls.from_json(key_file.read_bytes())
        with os.fdopen(fd, "wb") as handle:
            handle.write(ring.to_json())
        return ring

    # --- use --------------------------------------------------------------------------
    def encrypt(self, plaintext: bytes, purpose: bytes) -> bytes:
        key_id = self.active_id.encode()
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(self.keys[self.active_id]).encrypt(nonce, plaintext, purpose)
        return bytes([_FORMAT_VERSION, len(key_id)]) + key_id + nonce + sealed

    def decrypt(self, ciphertext: bytes, purpose: bytes) -> bytes:
        if len(ciphertext) < 2 or ciphertext[0] != _FORMAT_VERSION:
            raise KeyMaterialError("not a shoptrack ciphertext")
        id_end = 2 + ciphertext[1]
        key_id = ciphertext[2:id_end].decode()
        key = self.keys.get(key_id)
        if key is None:
            raise KeyMaterialError(f"the ciphertext names key {key_id!r}, not in the keyring")
        nonce = ciphertext[id_end : id_end + _NONCE_BYTES]
        return AESGCM(key).decrypt(nonce, ciphertext[id_end + _NONCE_BYTES :], purpose)

    def encrypt_json(self, value: Any, purpose: bytes) -> bytes:
        return self.encrypt(orjson.dumps(value), purpose)

    def decrypt_json(self, ciphertext: bytes, purpose: bytes) -> Any:
        return orjson.loads(self.decrypt(ciphertext, purpose))

    def blind_index(self, normalized_value: str, purpose: str) -> str:
        """A keyed hash for equality lookups: never the value, never reversible."""
        message = purpose.encode() + b"\x00" + normalized_value.encode()
        return hmac.new(self.index_key, message, hashlib.sha256).hexdigest()


PURPOSE_EVENT_IDENTITY = b"event-identity"
PURPOSE_REJECTED_BODY = b"rejected-body"
