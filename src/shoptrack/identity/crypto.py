"""Encryption of personal data at rest: the whole scheme lives in this module.

Scheme
------
* Data keys are random 256-bit AES keys, each with a short random key id (``k`` and 8 hex
  digits; files from older releases hold ``k1``, ``k2`` … and keep working). Exactly one is
  *active*: new ciphertexts use it; older keys stay to decrypt what they wrote. Ids are random
  so that a key file made afresh never names a key the store already holds ciphertexts of:
  ``identity/keycheck.py`` then sees that the store's key ids are missing and refuses to start.
* A ciphertext is ``b"\\x01" | len(key_id) | key_id | nonce(12) | AES-256-GCM(plaintext)``.
  The key id travels inside every ciphertext, so rotation never needs a flag day: a reader
  picks the key the ciphertext names.
* Every encryption binds a *purpose* (e.g. ``b"event-identity"``) as associated data, so a
  ciphertext copied from one column into another does not decrypt. A contact's profile is
  bound to its site and contact id (:func:`purpose_contact`), so it cannot be moved to another
  contact either.
* A separate HMAC-SHA256 key (the *index key*) makes blind indexes: a keyed hash of a
  normalized value (an e-mail, a phone number) that allows equality lookups without storing
  the value; it is never used for encryption. Contact indexes hash ``site_id``, the kind of
  value and the value (:meth:`Keyring.contact_index`), so the same e-mail gives unrelated
  indexes in two sites and in two columns; the city and custom fields get theirs the same way
  (``identity/field_index.py``, purpose ``contact-field``, for segment conditions). Without
  the index key, an index cannot be tested against a guessed e-mail. The index key is not
  rotated by ``keys rotate``: every index would have to be recomputed from decrypted data at
  once, and a leaked index reveals only equality.
* Keys come from ``SHOPTRACK_ENCRYPTION_KEYS`` (the key file's JSON) or from the key file
  (``SHOPTRACK_KEY_FILE``), which is created on first run with mode 0600, but only while the
  store holds no ciphertext (``identity/keycheck.py``). Losing it makes the encrypted personal
  data unreadable: back it up apart from the database.

Rotation
--------
``shoptrack keys rotate`` (``identity/rotation.py``) runs while servers keep serving:

1. a new key is added to the key file and made active (the file is replaced atomically:
   written to a temporary file with mode 0600, fsynced, renamed over the old one);
2. running processes notice: a keyring loaded from a file re-reads it when its modification
   time changes (checked at most once a second on encryption) and whenever a ciphertext names
   a key it does not hold, so they switch to the new key within a second and can read what the
   rotation rewrote; keys it held before are kept in memory;
3. after a grace period longer than that second, every stored ciphertext that names an older
   key is decrypted and encrypted again with the active key, in batches, each row replaced only
   if it still holds the ciphertext that was read (compare-and-set), so concurrent writes and
   erasures win; passes repeat until one finds nothing left to rewrite;
4. only then are the older keys removed from the file. Until that moment every ciphertext,
   old or new, decrypts with the file; reads keep working throughout.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_FORMAT_VERSION = 1
_NONCE_BYTES = 12
# How often (at most) a file-backed keyring checks whether the key file changed.
REFRESH_INTERVAL_S = 1.0


class KeyMaterialError(Exception):
    """The key material is missing, malformed or does not match a ciphertext."""


@dataclass(frozen=True, slots=True)
class _KeyState:
    active_id: str
    keys: Mapping[str, bytes]
    index_key: bytes


class Keyring:
    """The data keys and the index key; safe to share between threads.

    A keyring loaded from a key file follows that file (see *Rotation* above); one given as
    JSON (environment) never changes.
    """

    def __init__(
        self,
        active_id: str,
        keys: Mapping[str, bytes],
        index_key: bytes,
        *,
        source: Path | None = None,
    ) -> None:
        self._state = _KeyState(active_id, dict(keys), index_key)
        self._source = source
        self._lock = threading.Lock()
        self._checked_at = time.monotonic()
        self._mtime = _mtime(source)

    # --- the current state ---------------------------------------------------------
    @property
    def active_id(self) -> str:
        return self._state.active_id

    @property
    def keys(self) -> Mapping[str, bytes]:
        return self._state.keys

    @property
    def index_key(self) -> bytes:
        return self._state.index_key

    @property
    def source(self) -> Path | None:
        return self._source

    # --- loading ----------------------------------------------------------------------
    @classmethod
    def generate(cls) -> Keyring:
        key_id = new_key_id()
        return cls(key_id, {key_id: AESGCM.generate_key(bit_length=256)}, secrets.token_bytes(32))

    @classmethod
    def from_json(cls, raw: str | bytes, *, source: Path | None = None) -> Keyring:
        try:
            data = orjson.loads(raw)
            keys = {kid: base64.b64decode(value) for kid, value in data["keys"].items()}
            active = data["active"]
            index_key = base64.b64decode(data["index_key"])
        except (ValueError, KeyError, TypeError, AttributeError, orjson.JSONDecodeError) as exc:
            problem = type(exc).__name__
            raise KeyMaterialError(f"the key material is malformed ({problem})") from None
        if active not in keys or any(len(k) != 32 for k in keys.values()):
            raise KeyMaterialError("the key material needs 32-byte keys and an active key id")
        if any(not kid or len(kid.encode()) > 255 for kid in keys):
            raise KeyMaterialError("a key id is 1-255 bytes")
        return cls(active, keys, index_key, source=source)

    def to_json(self) -> bytes:
        state = self._state
        return orjson.dumps(
            {
                "version": _FORMAT_VERSION,
                "active": state.active_id,
                "keys": {kid: base64.b64encode(k).decode() for kid, k in state.keys.items()},
                "index_key": base64.b64encode(state.index_key).decode(),
            },
            option=orjson.OPT_INDENT_2,
        )

    @classmethod
    def load(cls, key_file: Path) -> Keyring:
        """The keyring of an existing key file, following that file from now on."""
        try:
            raw = key_file.read_bytes()
        except FileNotFoundError:
            raise KeyMaterialError(f"no key file at {key_file}") from None
        return cls.from_json(raw, source=key_file)

    @classmethod
    def load_or_create(cls, key_file: Path, env_value: str | None = None) -> Keyring:
        """Keys from the environment value if given, else the key file (created if absent)."""
        if env_value:
            return cls.from_json(env_value)
        if key_file.exists():
            return cls.load(key_file)
        ring = cls.generate()
        key_file.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls.load(key_file)
        with os.fdopen(fd, "wb") as handle:
            handle.write(ring.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        return cls.load(key_file)

    def save(self, key_file: Path) -> None:
        """Replace the key file atomically (temporary file with mode 0600, fsync, rename)."""
        key_file.parent.mkdir(parents=True, exist_ok=True)
        temp = key_file.with_name(f".{key_file.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(self.to_json())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, key_file)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        directory = os.open(key_file.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    # --- rotation ---------------------------------------------------------------------
    def with_new_key(self) -> Keyring:
        """A copy with one more data key, which becomes the active one."""
        state = self._state
        new_id = new_key_id()
        while new_id in state.keys:
            new_id = new_key_id()
        keys = {**state.keys, new_id: AESGCM.generate_key(bit_length=256)}
        return Keyring(new_id, keys, state.index_key, source=self._source)

    def only_active(self) -> Keyring:
        """A copy holding only the active data key (after re-encryption has completed)."""
        state = self._state
        active = {state.active_id: state.keys[state.active_id]}
        return Keyring(state.active_id, active, state.index_key, source=self._source)

    def refresh(self) -> bool:
        """Re-read the key file: take its active key, keep every key known so far."""
        if self._source is None:
            return False
        with self._lock:
            self._checked_at = time.monotonic()
            mtime = _mtime(self._source)
            try:
                fresh = Keyring.from_json(self._source.read_bytes())
            except (OSError, KeyMaterialError):
                return False  # mid-replacement or gone: keep what we have
            state = self._state
            keys = {**state.keys, **fresh.keys}
            self._state = _KeyState(fresh.active_id, keys, fresh.index_key)
            self._mtime = mtime
            return True

    def _maybe_refresh(self) -> None:
        if self._source is None or time.monotonic() - self._checked_at < REFRESH_INTERVAL_S:
            return
        self._checked_at = time.monotonic()
        if _mtime(self._source) != self._mtime:
            self.refresh()

    @staticmethod
    def key_id_of(ciphertext: bytes) -> str:
        """The id of the key a ciphertext was made with."""
        id_end = 2 + ciphertext[1] if len(ciphertext) >= 2 else 0
        if (
            not id_end
            or ciphertext[0] != _FORMAT_VERSION
            or len(ciphertext) < id_end + _NONCE_BYTES
        ):
            raise KeyMaterialError("not a shoptrack ciphertext")
        try:
            return ciphertext[2:id_end].decode("ascii")
        except UnicodeDecodeError:
            raise KeyMaterialError("not a shoptrack ciphertext") from None

    def needs_reencryption(self, ciphertext: bytes) -> bool:
        return self.key_id_of(ciphertext) != self.active_id

    def reencrypt(self, ciphertext: bytes, purpose: bytes) -> bytes:
        return self.encrypt(self.decrypt(ciphertext, purpose), purpose)

    # --- use --------------------------------------------------------------------------
    def encrypt(self, plaintext: bytes, purpose: bytes) -> bytes:
        self._maybe_refresh()
        state = self._state
        key_id = state.active_id.encode()
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = AESGCM(state.keys[state.active_id]).encrypt(nonce, plaintext, purpose)
        return bytes([_FORMAT_VERSION, len(key_id)]) + key_id + nonce + sealed

    def decrypt(self, ciphertext: bytes, purpose: bytes) -> bytes:
        key_id = self.key_id_of(ciphertext)
        key = self._state.keys.get(key_id)
        if key is None and self.refresh():
            key = self._state.keys.get(key_id)
        if key is None:
            raise KeyMaterialError(f"the ciphertext names key {key_id!r}, not in the keyring")
        id_end = 2 + ciphertext[1]
        nonce = ciphertext[id_end : id_end + _NONCE_BYTES]
        try:
            return AESGCM(key).decrypt(nonce, ciphertext[id_end + _NONCE_BYTES :], purpose)
        except InvalidTag:
            raise KeyMaterialError(
                "the ciphertext is corrupt or made for another purpose"
            ) from None

    def encrypt_json(self, value: Any, purpose: bytes) -> bytes:
        return self.encrypt(orjson.dumps(value), purpose)

    def decrypt_json(self, ciphertext: bytes, purpose: bytes) -> Any:
        return orjson.loads(self.decrypt(ciphertext, purpose))

    def blind_index(self, normalized_value: str, purpose: str) -> str:
        """A keyed hash for equality lookups: never the value, never reversible."""
        message = purpose.encode() + b"\x00" + normalized_value.encode()
        return hmac.new(self._state.index_key, message, hashlib.sha256).hexdigest()

    def contact_index(self, site_id: str, kind: str, normalized_value: str) -> str:
        """The blind index of one contact identifier (``kind``: one of ``INDEX_KINDS``)."""
        return self.blind_index(f"{site_id}\x00{normalized_value}", f"contact-{kind}")


def new_key_id() -> str:
    """A random key id: two key files never share one by chance (2**-32 per pair)."""
    return "k" + secrets.token_hex(4)


def _mtime(path: Path | None) -> int | None:
    if path is None:
        return None
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def purpose_contact(site_id: str, contact_id: str) -> bytes:
    """A contact's profile is bound to its row: it decrypts nowhere else."""
    return b"contact-profile\x00" + site_id.encode() + b"\x00" + contact_id.encode()


PURPOSE_EVENT_IDENTITY = b"event-identity"
PURPOSE_REJECTED_BODY = b"rejected-body"
PURPOSE_PENDING_IDENTITY = b"pending-identity"
# The identifiers with a blind index, in matching order.
INDEX_KINDS = ("externalCustomerId", "email", "phone")
