"""Engines by URL: ``sqlite:///path`` (the default) or ``postgresql://user@host/db``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's own retries only
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


def normalize_url(url: str) -> str:
    """Accept the URLs people write and pick the drivers we ship (psycopg 3 for PostgreSQL)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "sqlite"


def create_store_engine(
    url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 5, null_pool: bool = False
) -> Engine:
    """An engine with the pragmas and pool our workload wants."""
    url = normalize_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if null_pool:
        kwargs["poolclass"] = NullPool
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(url, **kwargs)
        _install_sqlite_pragmas(engine, sqlite_synchronous)
        return engine
    if not null_pool:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    return create_engine(url, **kwargs)


def _install_sqlite_pragmas(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL: readers never block the writer, and a commit is one append to the log.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


class WriteTurn:
    """Turns at SQLite's one write lock, taken in the kernel's order rather than SQLite's.

    SQLite makes a writer that finds the database locked sleep and retry (1, 2, 5 … 100 ms
    apart) rather than queue. The collector's group commits and the processors' batches then
    race, and a process that writes again at once wins the retries: under load the collector
    starved for ~0.5 s behind a worker whose batches each held the lock a few ms. Both take a
    turn here first (an ``flock`` on a file beside the database), so a waiter is woken the
    moment the lock is free. Nothing on PostgreSQL, in-memory databases or without ``fcntl``.
    """

    def __init__(self, engine: Engine) -> None:
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._path = (
            f"{database}-write-turn" if database and database != ":memory:" and fcntl else None
        )
        self._local = threading.local()

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if self._path is None or getattr(self._local, "held", False):
            yield
            return
        assert fcntl is not None
        # One open file per thread: flock excludes other open files, in this process too.
        handle = getattr(self._local, "handle", None)
        if handle is None:
            handle = self._local.handle = open(self._path, "a+b")  # noqa: SIM115 - kept open
        fcntl.flock(handle, fcntl.LOCK_EX)  # blocks in the kernel, GIL released
        self._local.held = True
        try:
            yield
        finally:
            self._local.held = False
            fcntl.flock(handle, fcntl.LOCK_UN)
