"""The long-lived objects one server process shares, built once from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from shoptrack.collector.service import Collector
from shoptrack.collector.sites import SiteDirectory
from shoptrack.collector.writer import GroupCommitWriter
from shoptrack.config import Settings
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.services import IdentityServices
from shoptrack.store.db import create_store_engine
from shoptrack.store.events_repo import EventLog
from shoptrack.store.migrate import upgrade
from shoptrack.store.sites_repo import SiteRepository


@dataclass
class Services:
    settings: Settings
    engine: Engine
    keyring: Keyring
    event_log: EventLog
    site_repo: SiteRepository
    sites: SiteDirectory
    writer: GroupCommitWriter
    collector: Collector
    identity: IdentityServices

    @classmethod
    def build(cls, settings: Settings, *, migrate: bool = True) -> Services:
        engine = create_store_engine(
            settings.database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        if migrate:
            upgrade(engine)
        keyring = Keyring.load_or_create(settings.key_file, settings.encryption_keys)
        event_log = EventLog(engine)
        site_repo = SiteRepository(engine)
        sites = SiteDirectory(site_repo)
        writer = GroupCommitWriter(
            event_log, settings.commit_interval_ms / 1000, settings.commit_max_events
        )
        collector = Collector(settings, event_log, writer, sites, keyring)
        identity = IdentityServices.build(settings, engine, keyring)
        return cls(
            settings, engine, keyring, event_log, site_repo, sites, writer, collector, identity
        )


def open_store(settings: Settings) -> tuple[Engine, EventLog, SiteRepository]:
    """Engine and repositories for the CLI, with migrations applied."""
    engine = create_store_engine(
        settings.database_url, sqlite_synchronous=settings.sqlite_synchronous
    )
    upgrade(engine)
    return engine, EventLog(engine), SiteRepository(engine)
