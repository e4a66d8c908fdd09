"""Feeds (where a site's catalogue comes from, and when) and the record of every import."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Engine, and_, delete, func, select, update

from shoptrack.catalog.schedule import parse_schedule
from shoptrack.catalog.sources import is_url, local_path
from shoptrack.catalog.store_ops import lock_site, read_state
from shoptrack.errors import Conflict, NotFound, Reason, ShoptrackError
from shoptrack.events.model import iso_ms
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import (
    catalog_feeds,
    catalog_imports,
    catalog_product_categories,
    catalog_products,
    sites,
)

STATUS_RUNNING = "running"
STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_NOT_MODIFIED = "not_modified"


@dataclass(frozen=True, slots=True)
class Feed:
    site_id: str
    feed_id: str
    url: str
    schedule: str | None
    next_run_at: int | None
    etag: str | None
    last_modified: str | None
    created_at: int
    last_import_id: str | None
    last_status: str | None
    last_import_at: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.feed_id,
            "site_id": self.site_id,
            "url": self.url,
            "schedule": self.schedule,
            "next_run_at": iso_ms(self.next_run_at),
            "created_at": iso_ms(self.created_at),
            "last_import_id": self.last_import_id,
            "last_status": self.last_status,
            "last_import_at": iso_ms(self.last_import_at),
        }


def _feed(row: Any) -> Feed:
    return Feed(**{name: getattr(row, name) for name in Feed.__slots__})


def new_import_id() -> str:
    return f"im_{now_ms():x}{secrets.token_hex(4)}"


def normalize_location(location: str, *, allow_files: bool) -> str:
    """An http(s) URL as given, or an absolute local path (only where files are allowed)."""
    location = location.strip()
    if is_url(location):
        return location
    if not allow_files:
        raise ShoptrackError(
            Reason.INVALID_VALUE, "url: expected an http:// or https:// address", "url"
        )
    if "://" in location and not location.lower().startswith("file://"):
        raise ShoptrackError(Reason.INVALID_VALUE, f"url: unsupported scheme in {location}", "url")
    path: Path = local_path(location).resolve()
    if not path.is_file():
        raise ShoptrackError(Reason.INVALID_VALUE, f"no such file: {path}", "url")
    return str(path)


class FeedRepository:
    def __init__(self, engine: Engine, timezone: str = "UTC") -> None:
        self.engine = engine
        self.zone = ZoneInfo(timezone)

    def add(self, site_id: str, location: str, schedule: str | None, *, allow_files: bool) -> Feed:
        url = normalize_location(location, allow_files=allow_files)
        next_run = None
        if schedule:
            try:
                parsed = parse_schedule(schedule)
            except ValueError as exc:
                raise ShoptrackError(Reason.INVALID_VALUE, str(exc), "schedule") from None
            schedule = parsed.text
            next_run = parsed.next_after(now_ms(), self.zone)
        with self.engine.begin() as conn:
            known = select(sites.c.site_id).where(sites.c.site_id == site_id)
            if conn.execute(known).first() is None:
                raise NotFound(f"no site {site_id!r}", "site_id")
            feed_id = "fd_" + secrets.token_hex(6)
            conn.execute(
                catalog_feeds.insert().values(
                    site_id=site_id,
                    feed_id=feed_id,
                    url=url,
                    schedule=schedule or None,
                    next_run_at=next_run,
                    created_at=now_ms(),
                )
            )
        feed = self.get(site_id, feed_id)
        assert feed is not None
        return feed

    def get(self, site_id: str, feed_id: str) -> Feed | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(catalog_feeds).where(
                    catalog_feeds.c.site_id == site_id, catalog_feeds.c.feed_id == feed_id
                )
            ).first()
        return _feed(row) if row else None

    def require(self, site_id: str, feed_id: str) -> Feed:
        feed = self.get(site_id, feed_id)
        if feed is None:
            raise NotFound(f"no feed {feed_id!r} for this site", "feed_id")
        return feed

    def list_feeds(self, site_id: str | None = None) -> list[Feed]:
        stmt = select(catalog_feeds).order_by(catalog_feeds.c.site_id, catalog_feeds.c.created_at)
        if site_id is not None:
            stmt = stmt.where(catalog_feeds.c.site_id == site_id)
        with self.engine.connect() as conn:
            return [_feed(row) for row in conn.execute(stmt)]

    def delete(self, site_id: str, feed_id: str, *, purge: bool = False) -> dict[str, Any]:
        """Delete a feed with its schedule and import records, in one transaction.

        Its products are the site's catalogue: they stay, owned by no feed (so other feeds'
        imports carry them over like ``ProductUpdate``-only products), unless ``purge`` takes
        them out of the live catalogue too. Refused while an import of the site runs: that
        import's switch would otherwise bring back what was just deleted.
        """
        products = catalog_products
        with self.engine.begin() as conn:
            lock_site(conn, site_id)
            feed = conn.execute(
                select(catalog_feeds.c.feed_id).where(
                    catalog_feeds.c.site_id == site_id, catalog_feeds.c.feed_id == feed_id
                )
            ).first()
            if feed is None:
                raise NotFound(f"no feed {feed_id!r} for this site", "feed_id")
            state = read_state(conn, site_id)
            if state.lease_owner and (state.lease_until or 0) >= now_ms():
                raise Conflict(
                    f"an import of this site is running ({state.lease_owner}); "
                    "delete the feed when it has finished",
                    "feed_id",
                )
            owned = and_(
                products.c.site_id == site_id,
                products.c.generation == state.generation,
                products.c.feed_id == feed_id,
            )
            count = int(
                conn.execute(select(func.count()).select_from(products).where(owned)).scalar_one()
            )
            if purge:
                links = catalog_product_categories
                conn.execute(
                    delete(links).where(
                        links.c.site_id == site_id,
                        links.c.generation == state.generation,
                        links.c.product_key.in_(select(products.c.product_key).where(owned)),
                    )
                )
                conn.execute(delete(products).where(owned))
            else:
                conn.execute(update(products).where(owned).values(feed_id=None))
            conn.execute(
                delete(catalog_imports).where(
                    catalog_imports.c.site_id == site_id, catalog_imports.c.feed_id == feed_id
                )
            )
            conn.execute(
                delete(catalog_feeds).where(
                    catalog_feeds.c.site_id == site_id, catalog_feeds.c.feed_id == feed_id
                )
            )
        return {
            "deleted": feed_id,
            "purged_products": count if purge else 0,
            "kept_products": 0 if purge else count,
        }

    def due(self, now: int) -> list[Feed]:
        stmt = (
            select(catalog_feeds)
            .where(catalog_feeds.c.next_run_at.is_not(None), catalog_feeds.c.next_run_at <= now)
            .order_by(catalog_feeds.c.next_run_at)
        )
        with self.engine.connect() as conn:
            return [_feed(row) for row in conn.execute(stmt)]

    def claim(self, feed: Feed, now: int) -> bool:
        """Move a due feed's next run forward; True for the one worker whose update won."""
        if feed.schedule is None or feed.next_run_at is None:
            return False
        next_run = parse_schedule(feed.schedule).next_after(now, self.zone)
        with self.engine.begin() as conn:
            result = conn.execute(
                update(catalog_feeds)
                .where(
                    catalog_feeds.c.site_id == feed.site_id,
                    catalog_feeds.c.feed_id == feed.feed_id,
                    catalog_feeds.c.next_run_at == feed.next_run_at,
                )
                .values(next_run_at=next_run)
            )
        return result.rowcount == 1

    # --- import records ----------------------------------------------------------------

    def start_import(self, feed: Feed, import_id: str, trigger: str, started_at: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                catalog_imports.insert().values(
                    site_id=feed.site_id,
                    import_id=import_id,
                    feed_id=feed.feed_id,
                    trigger=trigger,
                    status=STATUS_RUNNING,
                    started_at=started_at,
                )
            )

    def interrupt_stale(self, site_id: str, current: str, waiting: Collection[str] = ()) -> None:
        """Imports still 'running' while we hold the site's lease died with their process.

        ``waiting``: imports recorded as running that wait for their turn in this process.
        """
        with self.engine.begin() as conn:
            conn.execute(
                update(catalog_imports)
                .where(
                    catalog_imports.c.site_id == site_id,
                    catalog_imports.c.status == STATUS_RUNNING,
                    catalog_imports.c.import_id.not_in([current, *waiting]),
                )
                .values(
                    status=STATUS_FAILED,
                    error_code="interrupted",
                    error_message="the process running this import stopped",
                    finished_at=now_ms(),
                )
            )

    def finish_import(
        self,
        feed: Feed,
        import_id: str,
        status: str,
        report: dict[str, Any],
        *,
        error: dict[str, Any] | None = None,
        generation: int | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> None:
        finished = now_ms()
        with self.engine.begin() as conn:
            conn.execute(
                update(catalog_imports)
                .where(
                    catalog_imports.c.site_id == feed.site_id,
                    catalog_imports.c.import_id == import_id,
                )
                .values(
                    status=status,
                    finished_at=finished,
                    generation=generation,
                    error_code=error["code"] if error else None,
                    error_message=error["message"] if error else None,
                    report=orjson.dumps({**report, "error": error}).decode(),
                )
            )
            values: dict[str, Any] = {
                "last_import_id": import_id,
                "last_status": status,
                "last_import_at": finished,
            }
            if status == STATUS_OK:
                # Conditional requests compare with the last *good* import only.
                values.update(etag=etag, last_modified=last_modified)
            conn.execute(
                update(catalog_feeds)
                .where(
                    catalog_feeds.c.site_id == feed.site_id,
                    catalog_feeds.c.feed_id == feed.feed_id,
                )
                .values(**values)
            )

    def imports(self, site_id: str, feed_id: str, limit: int = 20) -> list[dict[str, Any]]:
        stmt = (
            select(catalog_imports)
            .where(catalog_imports.c.site_id == site_id, catalog_imports.c.feed_id == feed_id)
            .order_by(catalog_imports.c.started_at.desc(), catalog_imports.c.import_id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [import_json(row) for row in conn.execute(stmt)]

    def get_import(self, site_id: str, import_id: str) -> dict[str, Any] | None:
        stmt = select(catalog_imports).where(
            catalog_imports.c.site_id == site_id, catalog_imports.c.import_id == import_id
        )
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return import_json(row) if row else None


def import_json(row: Any) -> dict[str, Any]:
    report = orjson.loads(row.report or "{}")
    error = report.pop("error", None)
    return {
        "id": row.import_id,
        "feed_id": row.feed_id,
        "trigger": row.trigger,
        "status": row.status,
        "started_at": iso_ms(row.started_at),
        "finished_at": iso_ms(row.finished_at),
        "generation": row.generation,
        "error": error,
        "report": report,
    }
