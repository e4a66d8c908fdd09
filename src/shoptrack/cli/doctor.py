"""``shoptrack doctor``: is this installation able to run, and if not, what to do about it.

Each check prints ``ok`` or ``FAIL`` with what it found and, on failure, the remedy; the exit
status is 1 when any check failed. Nothing is changed: no migration is applied and no key file
is created (``serve`` does both), so the doctor can be run against a store in any state.
"""

from __future__ import annotations

import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from shoptrack.cli.options import DatabaseUrl, err, settings_for
from shoptrack.config import Settings
from shoptrack.identity.crypto import KeyMaterialError, Keyring
from shoptrack.identity.keycheck import KeyCheck, check_keys, key_ids_in_store, missing_summary
from shoptrack.store.db import create_store_engine, redacted_url, store_problem
from shoptrack.store.migrate import revisions

# Below this much free space a store is about to refuse writes (and SQLite checkpoints).
MIN_FREE_BYTES = 256 * 1024**2


class CheckFailed(Exception):
    """A check's finding and the remedy, printed as the FAIL line."""

    def __init__(self, finding: str, remedy: str) -> None:
        super().__init__(finding)
        self.finding = finding
        self.remedy = remedy


@dataclass
class Doctor:
    settings: Settings
    engine: Engine
    failures: int = 0

    def run(self, name: str, check: Callable[[], str]) -> bool:
        try:
            found = check()
        except CheckFailed as failed:
            self.failures += 1
            err.print(f"[red]FAIL[/red] {name}: {failed.finding}", highlight=False, soft_wrap=True)
            err.print(f"     what to do: {failed.remedy}", highlight=False, soft_wrap=True)
            return False
        err.print(f"[green]ok[/green]   {name}: {found}", highlight=False, soft_wrap=True)
        return True

    # --- the checks ------------------------------------------------------------------
    def store(self) -> str:
        sqlite = self.engine.dialect.name == "sqlite"
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            remedy = (
                "the file is damaged or not a SQLite database: stop shoptrack and restore "
                "it from backup (or salvage it with `sqlite3 FILE .recover`)"
                if sqlite
                else "check SHOPTRACK_DATABASE_URL, that PostgreSQL runs and accepts this user"
            )
            raise CheckFailed(store_problem(exc), remedy) from None
        return f"{redacted_url(self.settings.database_url)} answers"

    def integrity(self) -> str:
        if self.engine.dialect.name != "sqlite":
            return "PostgreSQL checks its own pages; connection ok"
        remedy = (
            "stop shoptrack, back up the file, then restore the last good backup "
            "(or salvage with `sqlite3 FILE .recover`)"
        )
        try:
            with self.engine.connect() as conn:
                found = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA integrity_check(20)")]
        except SQLAlchemyError as exc:
            raise CheckFailed(store_problem(exc), remedy) from None
        if found != ["ok"]:
            raise CheckFailed("; ".join(found[:5]), remedy)
        return "PRAGMA integrity_check: ok"

    def migrations(self) -> str:
        try:
            current, head = revisions(self.engine)
        except SQLAlchemyError as exc:
            raise CheckFailed(store_problem(exc), "mend the store first (above)") from None
        if current != head:
            raise CheckFailed(
                f"the schema is at {current or 'nothing'}, this release needs {head}",
                "run `shoptrack migrate` (serve does it on start)",
            )
        return f"schema at {head}"

    def key_file(self) -> str:
        if self.settings.encryption_keys:
            return "keys come from SHOPTRACK_ENCRYPTION_KEYS"
        path = self.settings.key_path
        if not path.exists():
            raise CheckFailed(
                f"no key file at {path}",
                "restore it from backup, or set SHOPTRACK_KEY_FILE to where it is (a new "
                "store gets one on the first `shoptrack serve`)",
            )
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise CheckFailed(
                f"{path} has mode {mode:o}: others may read the keys", f"chmod 600 {path}"
            )
        return f"{path} (mode {mode:o})"

    def keys(self) -> str:
        source = (
            "SHOPTRACK_ENCRYPTION_KEYS"
            if self.settings.encryption_keys
            else f"the key file {self.settings.key_path}"
        )
        try:
            if self.settings.encryption_keys:
                ring = Keyring.from_json(self.settings.encryption_keys)
            elif self.settings.key_path.exists():
                ring = Keyring.load(self.settings.key_path)
            else:
                ring = None
        except KeyMaterialError as exc:
            raise CheckFailed(f"{source}: {exc}", "restore the key file from backup") from None
        try:
            check = check_keys(self.engine, ring) if ring else None
        except SQLAlchemyError as exc:
            raise CheckFailed(store_problem(exc), "mend the store first (above)") from None
        if check is None:
            check = KeyCheck(key_ids_in_store(self.engine), frozenset())
            if not check.ciphertexts:
                return "the store holds no encrypted data yet"
        if check.missing:
            raise CheckFailed(
                f"{source} lacks keys the store uses: {missing_summary(check)}",
                f"restore the key file from backup (SHOPTRACK_KEY_FILE={self.settings.key_path})",
            )
        return f"every key the store uses is held ({check.ciphertexts} encrypted values)"

    def disk(self) -> str:
        places = {self.settings.key_path.parent}
        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database and database != ":memory:":
            places.add(Path(database).absolute().parent)
        notes = []
        for place in sorted(places):
            if not place.exists():
                continue
            free = shutil.disk_usage(place).free
            if free < MIN_FREE_BYTES:
                raise CheckFailed(
                    f"{free // 1024**2} MiB free under {place}",
                    "free some space: with a full disk every event is refused (503)",
                )
            notes.append(f"{free // 1024**2:,} MiB free under {place}")
        return "; ".join(notes) or "no local files to check"


def doctor(database_url: DatabaseUrl = None) -> None:
    """Check the store (integrity, migrations), the key file and disk space; say what to do."""
    settings = settings_for(database_url)
    engine = create_store_engine(settings.database_url, null_pool=True)
    doc = Doctor(settings, engine)
    try:
        if doc.run("store", doc.store):
            doc.run("integrity", doc.integrity)
            doc.run("migrations", doc.migrations)
            doc.run("keys in store", doc.keys)
        doc.run("key file", doc.key_file)
        doc.run("disk space", doc.disk)
    finally:
        engine.dispose()
    if doc.failures:
        err.print(f"{doc.failures} check(s) failed")
        raise typer.Exit(1)
    err.print("all checks passed")
