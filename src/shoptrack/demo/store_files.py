"""Where the demo lives: its own SQLite file and key file, never the shop's store.

A demo site in a real store would be served, trained and reported with the real ones, and
its made-up visitors would land among real customers. So the demo's settings name
``./shoptrack-demo.db`` whatever ``SHOPTRACK_DATABASE_URL`` says, and a fill refuses the
shop's default ``./shoptrack.db`` and any store that holds another site.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from shoptrack.config import Settings
from shoptrack.errors import Reason, ShoptrackError
from shoptrack.store.tables import sites

DEMO_SITE_ID = "demo"
DEMO_DATABASE_URL = "sqlite:///./shoptrack-demo.db"
DEMO_KEY_FILE = Path("./shoptrack-demo.keys")
SHOP_DATABASE = Path("shoptrack.db")


def demo_settings(database_url: str | None, **overrides: object) -> Settings:
    """The demo's own store and key file; ``--database-url`` picks another store on purpose."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if database_url:
        values["database_url"] = database_url
    else:
        values.update(database_url=DEMO_DATABASE_URL, key_file=DEMO_KEY_FILE)
    return Settings(**values)  # type: ignore[arg-type]


def sqlite_file(database_url: str) -> Path | None:
    """The database file of a ``sqlite:///`` URL (absolute), None for other stores."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database).expanduser().absolute()


def feed_file(settings: Settings) -> Path:
    """The generated feed's file: beside the SQLite file, else beside the key file.

    It stays after the fill: the feed names it, and "import now" reads it again.
    """
    database = sqlite_file(settings.database_url)
    if database is not None:
        return database.with_name(database.stem + "-feed.xml")
    return settings.key_path.with_name("shoptrack-demo-feed.xml")


def refuse_shop_file(settings: Settings) -> None:
    """Refuse the shop's ``./shoptrack.db`` (before anything opens it, which would create it)."""
    database = sqlite_file(settings.database_url)
    if database is not None and database == SHOP_DATABASE.absolute():
        raise ShoptrackError(
            Reason.INVALID_VALUE,
            "the demo never fills the shop's own ./shoptrack.db; leave --database-url out "
            "(the demo uses ./shoptrack-demo.db)",
            "database_url",
        )


def refuse_shop_store(settings: Settings, engine: Engine, site_id: str) -> None:
    """Refuse the shop's ``./shoptrack.db`` and any store holding a site other than the demo's."""
    refuse_shop_file(settings)
    with engine.connect() as conn:
        others = conn.execute(select(sites.c.site_id).where(sites.c.site_id != site_id)).first()
    if others is not None:
        raise ShoptrackError(
            Reason.INVALID_VALUE,
            f"this store holds the site {others.site_id!r}: the demo fills only a store of its "
            "own (leave --database-url out, or name an empty store)",
            "database_url",
        )


def remove_store(settings: Settings) -> list[Path]:
    """Delete the demo's SQLite file (with its WAL files) and key file: ``--refill``.

    Only a SQLite file can be started over this way; a PostgreSQL store is the user's to drop.
    Deleting the rows instead would not do: SQLite reuses the sequence numbers of deleted
    events, which the processors' cursors have already passed.
    """
    database = sqlite_file(settings.database_url)
    if database is None:
        raise ShoptrackError(
            Reason.INVALID_VALUE,
            "--refill starts a SQLite demo store over; for another store, drop and create the "
            "database yourself",
            "refill",
        )
    if database == SHOP_DATABASE.absolute():
        raise ShoptrackError(
            Reason.INVALID_VALUE, "--refill never deletes the shop's ./shoptrack.db", "refill"
        )
    removed = []
    for path in (
        database,
        database.with_name(database.name + "-wal"),
        database.with_name(database.name + "-shm"),
        settings.key_path,
    ):
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed
