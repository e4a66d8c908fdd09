"""The long-lived objects one server process shares, built once from the settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from shoptrack.collector.service import Collector
from shoptrack.collector.sites import SiteDirectory
from shoptrack.collector.writer import GroupCommitWriter
from shoptrack.config import Settings
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.erasure import ErasureReport
from shoptrack.identity.keycheck import keyring_for
from shoptrack.identity.linking import NAME as IDENTITY_PROCESSOR
from shoptrack.identity.services import IdentityServices
from shoptrack.processing.builtin import ERASURE_STEPS, build_runner
from shoptrack.processing.runner import ProcessorRunner
from shoptrack.recommend.history import ErasedVisitors, VisitorHistory, open_history
from shoptrack.store.db import create_store_engine
from shoptrack.store.events_repo import EventLog
from shoptrack.store.migrate import upgrade
from shoptrack.store.sites_repo import SiteRepository
from shoptrack.store.sql import now_ms


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
    runner: ProcessorRunner  # every registered processor (processing/builtin.py)
    # Visitors' recent events for recommendation serving (None: read per request).
    history: VisitorHistory | None = None
    # Milliseconds since the epoch where the dashboard's "today" and a retry's due time come
    # from: the real clock; tests that run the trigger engine on a clock of their own share it.
    clock: Callable[[], int] = now_ms

    @classmethod
    def build(cls, settings: Settings, *, migrate: bool = True) -> Services:
        engine = create_store_engine(
            settings.database_url, sqlite_synchronous=settings.sqlite_synchronous
        )
        if migrate:
            upgrade(engine)
        keyring = keyring_for(settings, engine)
        event_log = EventLog(engine)
        site_repo = SiteRepository(engine)
        sites = SiteDirectory(site_repo)
        writer = GroupCommitWriter(
            event_log, settings.commit_interval_ms / 1000, settings.commit_max_events
        )
        collector = Collector(settings, event_log, writer, sites, keyring)
        identity = IdentityServices.build(settings, engine, keyring)
        runner = build_runner(settings, engine, keyring)
        history = open_history(engine, settings)
        return cls(
            settings, engine, keyring, event_log, site_repo, sites, writer, collector, identity,
            runner, history,
        )  # fmt: skip

    def erase_contact(self, site_id: str, contact_id: str, actor: str) -> ErasureReport:
        """Erasure, once the identity processor has read the site's committed events.

        Only the identity processor's state decides what erasure finds (the person's visitors
        and pending identities); the others derive nothing that erasure reads or deletes. And
        only this site's events: another site's stuck processing must not hold it up. Past
        ``erasure_wait_s`` it is a 503 (``Unavailable``), with nothing erased.

        The erased visitors' recommendation histories are dropped after the erasure commits
        (before, a concurrent request could load them again from the old rows).
        """
        erased = ErasedVisitors()
        report = self.identity.erase(
            site_id,
            contact_id,
            actor,
            catch_up=lambda: self.runner.catch_up_site(
                site_id, (IDENTITY_PROCESSOR,), self.settings.erasure_wait_s
            ),
            also=(*ERASURE_STEPS, erased.step),
        )
        if self.history is not None:
            self.history.forget(site_id, erased.visitor_ids)
        return report


def open_store(settings: Settings) -> tuple[Engine, EventLog, SiteRepository]:
    """Engine and repositories for the CLI, with migrations applied."""
    engine = create_store_engine(
        settings.database_url, sqlite_synchronous=settings.sqlite_synchronous
    )
    upgrade(engine)
    return engine, EventLog(engine), SiteRepository(engine)
