"""Fixtures of the catalogue tests: a migrated store with a site, an importer, a feed server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shoptrack.catalog.event_values import CatalogEventProcessor
from shoptrack.catalog.feeds import Feed, FeedRepository
from shoptrack.catalog.importer import FeedImporter, ImportOutcome
from shoptrack.catalog.queries import CatalogQueries
from shoptrack.config import Settings
from shoptrack.processing.runner import ProcessorRunner
from shoptrack.store.db import create_store_engine, is_sqlite
from shoptrack.store.migrate import upgrade
from shoptrack.store.sites_repo import SiteRepository
from tests.catalog.httpserver import FeedServer, feed_server
from tests.recommend.shop import shop  # noqa: F401  (a real app: test_browser_events.py)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The store, migrated once (the shared fixture migrates PostgreSQL already)."""
    engine = create_store_engine(database_url)
    if is_sqlite(database_url):
        upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def catalog_settings(database_url: str, tmp_path: Path) -> Settings:
    # Tiny batches so even small test feeds cross batch boundaries.
    return Settings(
        database_url=database_url,
        key_file=tmp_path / "shoptrack.keys",
        feed_batch_size=3,
        feed_timeout_s=0.5,
        feed_max_bytes=1024 * 1024,
        run_processors=False,
        # The tests' feed server listens on 127.0.0.1.
        feed_allow_private_hosts=True,
    )


@pytest.fixture
def site_id(engine: Engine) -> str:
    return SiteRepository(engine).create("Catalogue shop")[0].site_id


class Catalog:
    """A site's catalogue as the tests drive it: feeds, imports, reads, the event processor."""

    def __init__(self, engine: Engine, settings: Settings, site_id: str, tmp_path: Path) -> None:
        self.engine = engine
        self.site_id = site_id
        self.tmp_path = tmp_path
        self.importer = FeedImporter(engine, settings)
        self.feeds: FeedRepository = self.importer.feeds
        self.queries = CatalogQueries(engine)
        self.runner = ProcessorRunner(engine, [CatalogEventProcessor()])

    def file_feed(self, content: bytes, name: str = "feed.xml") -> Feed:
        path = self.tmp_path / name
        path.write_bytes(content)
        return self.feeds.add(self.site_id, str(path), None, allow_files=True)

    def rewrite(self, feed: Feed, content: bytes) -> None:
        Path(feed.url).write_bytes(content)

    def run(self, feed: Feed, **kwargs: object) -> ImportOutcome:
        fresh = self.feeds.get(feed.site_id, feed.feed_id)
        assert fresh is not None
        return self.importer.run(fresh, **kwargs)  # type: ignore[arg-type]

    def keys(self, **filters: object) -> list[str]:
        products = self.queries.products(self.site_id, limit=1000, **filters)  # type: ignore[arg-type]
        return [p["key"] for p in products]

    def product(self, key: str) -> dict[str, object]:
        found = self.queries.product(self.site_id, key)
        assert found is not None, key
        return found


@pytest.fixture
def catalog(engine: Engine, catalog_settings: Settings, site_id: str, tmp_path: Path) -> Catalog:
    return Catalog(engine, catalog_settings, site_id, tmp_path)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as running:
        yield running
