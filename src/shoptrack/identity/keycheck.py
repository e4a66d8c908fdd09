"""The key file must hold every key the store's ciphertexts name: checked before a process works.

A lost key file used to go unnoticed: a fresh one was made on the next start, old contacts
then failed on every read and could not be erased, and the same person became a second
contact (the fresh index key hashes their e-mail differently). So every process that opens
the keyring against a store (``serve``, the worker, the CLI) calls :func:`open_keyring`:

* a key file is created only while the store holds no ciphertext at all;
* the key ids the store's ciphertexts name (read from their headers in SQL, a few grouped
  queries per encrypted column, no row comes to Python) must all be in the keyring, else
  :class:`MissingKeys` says which ids are missing, how many rows use them and where the key
  file was looked for.

``allow_missing`` (``SHOPTRACK_ALLOW_MISSING_KEYS``) is for keys lost for good: the process
starts, the rows of the missing keys answer ``key_missing`` on read and can still be erased.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, case, func, select

from shoptrack.config import Settings
from shoptrack.identity.crypto import KeyMaterialError, Keyring
from shoptrack.identity.rotation import TARGETS, Target

log = logging.getLogger(__name__)


class MissingKeys(KeyMaterialError):
    """Stored ciphertexts name keys the keyring does not hold (the message says what to do)."""


@dataclass(frozen=True)
class KeyCheck:
    """What the store's ciphertexts need from the keyring."""

    used: dict[str, Counter[str]]  # column label -> key id -> rows
    held: frozenset[str]

    @property
    def missing(self) -> Counter[str]:
        """Rows per key id that the keyring does not hold, over every column."""
        out: Counter[str] = Counter()
        for counter in self.used.values():
            for key_id, rows in counter.items():
                if key_id not in self.held:
                    out[key_id] += rows
        return out

    @property
    def ciphertexts(self) -> int:
        return sum(sum(counter.values()) for counter in self.used.values())


def key_ids_in_store(engine: Engine, held: frozenset[str] = frozenset()) -> dict[str, Counter[str]]:
    """For each encrypted column, how many ciphertexts name each key id (headers read in SQL).

    A ciphertext starts ``version | len(key_id) | key_id``. One grouped scan per column reads
    the ids of the lengths expected (those ``held``, ``k1``-style and random ones); a row with
    another length is grouped by its length byte, and only then is that length read again.
    """
    usage: dict[str, Counter[str]] = {}
    lengths = sorted(_USUAL_ID_LENGTHS | {len(key_id.encode()) for key_id in held})
    with engine.connect() as conn:
        for target in TARGETS:
            usage[target.label] = _key_ids_of(conn, target, lengths)
    return usage


# "k1".."k999" (older releases) and "k" + 8 hex digits (crypto.new_key_id).
_USUAL_ID_LENGTHS = frozenset({2, 3, 4, 9})


def _key_ids_of(conn: Connection, target: Target, lengths: list[int]) -> Counter[str]:
    blob = target.table.c[target.column]
    length_byte = func.substr(blob, 2, 1)
    # Known lengths give the id itself; any other length gives its length byte, read below.
    known = [bytes([n]) for n in lengths]
    key_id = case(*[(length_byte == bytes([n]), func.substr(blob, 3, n)) for n in lengths])
    other_length = case((length_byte.in_(known), None), else_=length_byte)
    counter: Counter[str] = Counter()
    others: list[int] = []
    stmt = (
        select(key_id, other_length, func.count())
        .where(blob.is_not(None))
        .group_by(key_id, other_length)
    )
    for raw_id, raw_length, rows in conn.execute(stmt):
        if raw_length is not None:
            others.append(bytes(raw_length)[0] if raw_length else 0)
            continue
        counter[bytes(raw_id).decode("ascii", "replace") or "(unreadable)"] += int(rows)
    for length in others:
        other_id = func.substr(blob, 3, length)
        stmt = (
            select(other_id, func.count())
            .where(blob.is_not(None), length_byte == bytes([length]))
            .group_by(other_id)
        )
        for raw_id, rows in conn.execute(stmt):
            counter[bytes(raw_id).decode("ascii", "replace") or "(unreadable)"] += int(rows)
    return counter


def check_keys(engine: Engine, keyring: Keyring) -> KeyCheck:
    held = frozenset(keyring.keys)
    return KeyCheck(key_ids_in_store(engine, held), held)


def missing_summary(check: KeyCheck) -> str:
    """``k1 (12 rows), k2 (3 rows)``: the missing key ids and how many rows use each."""
    return ", ".join(f"{key_id} ({rows} rows)" for key_id, rows in sorted(check.missing.items()))


def missing_keys_message(check: KeyCheck, key_source: str, key_file: Path) -> str:
    return (
        f"the store holds personal data encrypted with keys that {key_source} does not hold: "
        f"{missing_summary(check)}; restore the key file from backup "
        f"(SHOPTRACK_KEY_FILE={key_file}) and start again. If those keys are lost for good, "
        "SHOPTRACK_ALLOW_MISSING_KEYS=true starts anyway: their rows stay unreadable and "
        "their contacts can only be erased"
    )


def open_keyring(
    engine: Engine,
    key_file: Path,
    env_value: str | None = None,
    *,
    allow_missing: bool = False,
    create: bool = True,
) -> Keyring:
    """The process's keyring, checked against the store (see the module docstring).

    ``create=False`` (erasure from the CLI) never writes a key file: without one, the keyring
    is a fresh one in memory, good for nothing but erasing by id.
    """
    key_file = key_file.absolute()
    source = "SHOPTRACK_ENCRYPTION_KEYS" if env_value else f"the key file {key_file}"
    if not env_value and not key_file.exists():
        source = f"the key file {key_file} (there is none)"
    if env_value or key_file.exists():
        ring = Keyring.load_or_create(key_file, env_value)
        check = check_keys(engine, ring)
    else:
        check = KeyCheck(key_ids_in_store(engine), frozenset())
        if check.ciphertexts and not allow_missing:
            # A fresh key file next to a used store is exactly the failure to prevent.
            raise MissingKeys(missing_keys_message(check, source, key_file))
        ring = Keyring.load_or_create(key_file) if create else Keyring.generate()
        check = KeyCheck(check.used, frozenset(ring.keys))
    if check.missing:
        message = missing_keys_message(check, source, key_file)
        if not allow_missing:
            raise MissingKeys(message)
        log.warning("starting with SHOPTRACK_ALLOW_MISSING_KEYS: %s", message)
    return ring


def keyring_for(settings: Settings, engine: Engine) -> Keyring:
    """:func:`open_keyring` with the settings' key file, keys and ``allow_missing_keys``."""
    return open_keyring(
        engine,
        settings.key_path,
        settings.encryption_keys,
        allow_missing=settings.allow_missing_keys,
    )
