"""Damage a SQLite database file the way a disk or a crash would, for the failure tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def checkpointed(path: Path, *, in_use: bool = False) -> None:
    """Everything in the main file, so that the bytes we damage are the store's.

    A store nobody has open also leaves WAL mode (no WAL beside it at all); one in use by a
    running server stays in it (switching needs every connection closed), with its WAL
    emptied into the main file.
    """
    conn = sqlite3.connect(path)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert not busy, "the WAL could not be emptied: a transaction is open"
        if not in_use:
            conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def corrupt_table_page(path: Path, table: str, *, in_use: bool = False) -> None:
    """Overwrite the root page of ``table`` (found in sqlite_master) with garbage."""
    checkpointed(path, in_use=in_use)
    conn = sqlite3.connect(path)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
    finally:
        conn.close()
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(b"\xa5" * page_size)


def corrupt_header(path: Path) -> None:
    """Overwrite the 100-byte file header: SQLite no longer recognises the file."""
    checkpointed(path)
    with path.open("r+b") as handle:
        handle.write(b"this is not a SQLite file any more" + b"\x00" * 66)
