"""Key rotation and key status: the procedure of ``identity/crypto.py`` ("Rotation") in code.

``rotate`` adds a key, waits for running processes to pick it up, re-encrypts every stored
ciphertext that names an older key (batch by batch, compare-and-set, repeated until a pass
finds nothing), and only then removes the older keys from the key file.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, Table, and_, bindparam, func, select, tuple_, update

from shoptrack.identity.crypto import (
    PURPOSE_EVENT_IDENTITY,
    PURPOSE_PENDING_IDENTITY,
    PURPOSE_REJECTED_BODY,
    REFRESH_INTERVAL_S,
    KeyMaterialError,
    Keyring,
    purpose_contact,
)
from shoptrack.identity.signing import purpose_identity_secret
from shoptrack.identity.store import write_audit
from shoptrack.store.tables import contacts, events, pending_identities, rejected_events, sites


@dataclass(frozen=True)
class Target:
    """One column of ciphertexts: its table, primary key and how its purpose is made."""

    table: Table
    column: str
    key: tuple[str, ...]
    purpose: Callable[[Any], bytes]

    @property
    def label(self) -> str:
        return f"{self.table.name}.{self.column}"


TARGETS = (
    Target(
        contacts,
        "profile_enc",
        ("site_id", "contact_id"),
        lambda row: purpose_contact(row.site_id, row.contact_id),
    ),
    Target(
        pending_identities,
        "identity_enc",
        ("site_id", "pending_id"),
        lambda _row: PURPOSE_PENDING_IDENTITY,
    ),
    Target(events, "identity_enc", ("seq",), lambda _row: PURPOSE_EVENT_IDENTITY),
    Target(rejected_events, "body_enc", ("seq",), lambda _row: PURPOSE_REJECTED_BODY),
    Target(
        sites,
        "identity_secret_enc",
        ("site_id",),
        lambda row: purpose_identity_secret(row.site_id),
    ),
)

Progress = Callable[[str, int, int], None]


def _scan(
    engine: Engine, target: Target, batch: int, prefix_only: bool = False
) -> Iterator[list[Any]]:
    """Rows (key columns + ciphertext, or its first bytes) in key order, one batch at a time."""
    table = target.table
    keys: list[Column[Any]] = [table.c[name] for name in target.key]
    blob: Any = table.c[target.column]
    value = func.substr(blob, 1, 64).label("blob") if prefix_only else blob.label("blob")
    last: tuple[Any, ...] | None = None
    while True:
        stmt = select(*keys, value).where(blob.is_not(None))
        if last is not None:
            after = keys[0] > last[0] if len(keys) == 1 else tuple_(*keys) > tuple_(*last)
            stmt = stmt.where(after)
        stmt = stmt.order_by(*keys).limit(batch)
        with engine.connect() as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return
        yield list(rows)
        last = tuple(getattr(rows[-1], name) for name in target.key)


def count_rows(engine: Engine, target: Target) -> int:
    blob = target.table.c[target.column]
    stmt = select(func.count()).select_from(target.table).where(blob.is_not(None))
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def key_usage(engine: Engine, batch: int = 5000) -> dict[str, Counter[str]]:
    """For every encrypted column: how many ciphertexts name each key id."""
    usage: dict[str, Counter[str]] = {}
    for target in TARGETS:
        counter: Counter[str] = Counter()
        for rows in _scan(engine, target, batch, prefix_only=True):
            for row in rows:
                try:
                    counter[Keyring.key_id_of(bytes(row.blob))] += 1
                except KeyMaterialError:
                    counter["(unreadable)"] += 1
        usage[target.label] = counter
    return usage


def reencrypt_target(
    engine: Engine, ring: Keyring, target: Target, batch: int, progress: Progress | None
) -> int:
    """One pass over a column; returns how many ciphertexts were rewritten."""
    table = target.table
    total = count_rows(engine, target)
    done = rewritten = 0
    blob_col = table.c[target.column]
    where = and_(
        *[table.c[name] == bindparam(f"k_{name}") for name in target.key],
        blob_col == bindparam("old_blob"),
    )
    stmt = update(table).where(where).values({target.column: bindparam("new_blob")})
    if progress:
        progress(target.label, 0, total)
    for rows in _scan(engine, target, batch):
        params = []
        for row in rows:
            old = bytes(row.blob)
            if not ring.needs_reencryption(old):
                continue
            new = ring.reencrypt(old, target.purpose(row))
            item = {f"k_{name}": getattr(row, name) for name in target.key}
            params.append({**item, "old_blob": old, "new_blob": new})
        if params:
            # Compare-and-set: a row changed or erased since it was read is left alone.
            with engine.begin() as conn:
                conn.execute(stmt, params)
            rewritten += len(params)
        done += len(rows)
        if progress:
            progress(target.label, done, max(total, done))
    return rewritten


@dataclass
class RotationReport:
    new_key_id: str
    retired: list[str]
    rewritten: dict[str, int] = field(default_factory=dict)
    passes: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.rewritten.values())


@contextmanager
def _rotation_lock(key_file: Path) -> Iterator[None]:
    """One rotation at a time per key file; the lock file is removed when it is done.

    Removing it means a process may lock a file that its holder has just unlinked, so the
    lock counts only if the path still names the file that was locked.
    """
    lock_path = key_file.with_name(key_file.name + ".lock")
    while True:
        handle = lock_path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise KeyMaterialError("another key rotation is running") from None
        try:
            current = os.stat(lock_path).st_ino
        except FileNotFoundError:
            current = -1
        if current == os.fstat(handle.fileno()).st_ino:
            break
        handle.close()  # the previous holder removed it: lock the new one
    try:
        yield
    finally:
        lock_path.unlink(missing_ok=True)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def rotate(
    engine: Engine,
    key_file: Path,
    *,
    batch: int = 1000,
    grace_s: float = 2 * REFRESH_INTERVAL_S + 0.5,
    progress: Progress | None = None,
    max_passes: int = 10,
) -> RotationReport:
    """Add a key, re-encrypt everything with it, retire the older keys."""
    started = time.monotonic()
    with _rotation_lock(key_file):
        ring = Keyring.load(key_file).with_new_key()
        ring.save(key_file)
        report = RotationReport(ring.active_id, [k for k in ring.keys if k != ring.active_id])
        # Running processes re-read the file within REFRESH_INTERVAL_S; after this no one
        # encrypts with an old key any more.
        time.sleep(grace_s)
        for _ in range(max_passes):
            report.passes += 1
            moved = 0
            for target in TARGETS:
                count = reencrypt_target(engine, ring, target, batch, progress)
                report.rewritten[target.label] = report.rewritten.get(target.label, 0) + count
                moved += count
            if moved == 0:
                break
        else:
            raise KeyMaterialError("ciphertexts with old keys keep appearing; old keys kept")
        ring.only_active().save(key_file)
        report.seconds = time.monotonic() - started
        with engine.begin() as conn:
            write_audit(
                conn,
                "",
                "keys.rotate",
                ring.active_id,
                "cli",
                {"retired": report.retired, "rewritten": report.total, "passes": report.passes},
            )
    return report
