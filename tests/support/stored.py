"""Everything a store holds, as bytes to grep for personal data that should not be there.

SQLite: the database file and its WAL as they are on disk (what a copy of the file would
leak). PostgreSQL: the text of every row of every table (``row::text``, what a dump would show;
``bytea`` comes out as hex, so callers look for the hex of a value too).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text

from shoptrack.store.tables import metadata


def stored_bytes(engine: Engine, database_url: str) -> bytes:
    if database_url.startswith("sqlite"):
        db = Path(database_url.removeprefix("sqlite:///"))
        files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
        return b"".join(p.read_bytes() for p in files if p.exists())
    parts: list[str] = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            rows = conn.execute(text(f'SELECT t::text FROM "{table.name}" AS t')).scalars()
            parts.extend(rows)
    return "\n".join(parts).encode()


def needles(*values: str) -> list[bytes]:
    """Each value as sent, lower-cased, percent-encoded at its "@", and as hex (bytea)."""
    out: list[bytes] = []
    for value in values:
        for form in {value, value.lower(), value.replace("@", "%40")}:
            raw = form.encode()
            out += [raw.lower(), raw.hex().encode()]
    return out


def found_in(blob: bytes, *values: str) -> list[str]:
    """Which of ``values`` (in any of their :func:`needles` forms) occur in ``blob``."""
    lowered = blob.lower()
    return [v for v in values if any(n in lowered for n in needles(v))]
