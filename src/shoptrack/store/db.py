"""Engines by URL: ``sqlite:///path`` (the default) or ``postgresql://user@host/db``."""

from __future__ import annotations

import os
import threading
import time
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
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool, PoolProxiedConnection


def normalize_url(url: str) -> str:
    """Accept the URLs people write and pick the drivers we ship (psycopg 3 for PostgreSQL)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def redacted_url(url: str) -> str:
    """The database URL without its password: secrets never reach a log or a terminal."""
    return make_url(normalize_url(url)).render_as_string(hide_password=True)


def store_problem(exc: BaseException) -> str:
    """A store error in one line: the driver's own first line and its type, never
    SQLAlchemy's text (which quotes the statement, and with it values)."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first_line = (str(cause).strip().splitlines() or [""])[0]
    return f"{first_line} ({type(cause).__module__.split('.')[0]}.{type(cause).__name__})"


class HeldConnection:
    """One pooled connection kept between uses by the single thread of a frequent writer.

    The group-commit writer commits hundreds of times a second. Taking a connection from the
    pool for each commit costs pool bookkeeping on both stores and, on PostgreSQL, a round trip
    for the pool's pre-ping before every commit. The writer's one thread keeps a connection
    instead. After a failure it is invalidated (never reused in an unknown state); after
    ``idle_s`` without use it goes back to the pool, so a connection a server or firewall may
    have dropped meanwhile is pinged by the pool before the next commit. Not thread-safe: one
    thread uses it.
    """

    def __init__(self, engine: Engine, idle_s: float = 30.0) -> None:
        self._engine = engine
        self._idle_s = idle_s
        self._connection: PoolProxiedConnection | None = None
        self._used_at = 0.0

    @contextmanager
    def use(self) -> Iterator[PoolProxiedConnection]:
        now = time.monotonic()
        if self._connection is not None and now - self._used_at > self._idle_s:
            self.close()
        if self._connection is None:
            self._connection = self._engine.raw_connection()
        connection = self._connection
        try:
            yield connection
        except BaseException:
            self._connection = None
            connection.invalidate()  # in an unknown state: it must not go back to the pool
            raise
        self._used_at = time.monotonic()

    def close(self) -> None:
        """Give the connection back to the pool (the writer stops, or it sat idle)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def is_sqlite(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "sqlite"


def create_store_engine(
    url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 5, null_pool: bool = False
) -> Engine:
    """An engine with the pragmas and pool our workload wants."""
    url = normalize_url(url)
    parsed = make_url(url)
    # hide_parameters: an error's text (logged, or stored as a failure reason) never carries
    # the values of the statement, which may be personal data or secrets.
    kwargs: dict[str, Any] = {"future": True, "hide_parameters": True}
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


# As long as SQLite's own busy timeout: a turn not given in that time fails the write.
_TURN_TIMEOUT_S = 30.0


class _TurnsHeld(threading.local):
    """Per thread: the turn files it has open, and the turns it holds (by path)."""

    def __init__(self) -> None:
        self.files: dict[str, int] = {}
        self.held: set[str] = set()


_turns = _TurnsHeld()


class WriteTurn:
    """Turns at SQLite's one write lock, handed over by the kernel rather than SQLite's way.

    SQLite makes a writer that finds the database locked sleep and retry 1, 2, 5 … 100 ms
    apart. The collector's group commits and the processors' batches then raced, and a
    process that writes again at once won those retries: under load the collector starved for
    ~0.5 s behind a worker whose batches each held the lock a few ms. Both first take a turn
    here (an ``flock`` on ``<database>-write-turn``); a waiter blocks in the kernel and wakes
    when the turn is free (polling every millisecond instead doubled serve's p99). After
    ``timeout_s`` the write fails, as it would in SQLite. The turn only orders writers: SQLite's
    own lock still guards the data. Nested turns in one thread are one turn. Nothing on
    PostgreSQL, in-memory databases or without ``fcntl``.
    """

    def __init__(self, engine: Engine, timeout_s: float = _TURN_TIMEOUT_S) -> None:
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        self._path = (
            f"{database}-write-turn" if database and database != ":memory:" and fcntl else None
        )
        self._timeout_s = timeout_s

    @contextmanager
    def __call__(self) -> Iterator[None]:
        path = self._path
        if path is None or path in _turns.held:
            yield
            return
        descriptor = _turns.files.get(path)
        if descriptor is None:
            # Read-only is enough for flock, and works whoever created the file.
            descriptor = _turns.files[path] = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
        self._take(descriptor)
        _turns.held.add(path)
        try:
            yield
        finally:
            _turns.held.discard(path)
            assert fcntl is not None
            fcntl.flock(descriptor, fcntl.LOCK_UN)

    def _take(self, descriptor: int) -> None:
        assert fcntl is not None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        # flock has no timeout: wait for the turn on a helper thread, for a bounded time. The
        # lock belongs to the open file, so the turn the helper gets is this thread's.
        given = threading.Event()
        guard = threading.Lock()
        abandoned = False

        def wait() -> None:
            assert fcntl is not None
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            with guard:
                if abandoned:
                    fcntl.flock(descriptor, fcntl.LOCK_UN)  # too late: give it back
                else:
                    given.set()

        threading.Thread(target=wait, name="write-turn-wait", daemon=True).start()
        if given.wait(self._timeout_s):
            return
        with guard:
            if given.is_set():
                return
            abandoned = True
        raise TimeoutError(f"no write turn on the database in {self._timeout_s:g} s")
