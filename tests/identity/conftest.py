"""Store-level identity fixtures: a migrated engine (SQLite and PostgreSQL), keys, services."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from shoptrack.config import Settings
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.services import IdentityServices
from shoptrack.processing.builtin import build_runner
from shoptrack.processing.runner import ProcessorRunner
from shoptrack.store.events_repo import EventLog
from shoptrack.store.sites_repo import SiteRepository


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.load_or_create(tmp_path / "shoptrack.keys")


@pytest.fixture
def identity(engine: Engine, keyring: Keyring, settings: Settings) -> IdentityServices:
    return IdentityServices.build(settings, engine, keyring)


@pytest.fixture
def runner(engine: Engine, keyring: Keyring, settings: Settings) -> ProcessorRunner:
    """Every processor, as the worker runs them."""
    return build_runner(settings, engine, keyring)


@pytest.fixture
def event_log(engine: Engine) -> EventLog:
    return EventLog(engine)


@pytest.fixture
def site_id(engine: Engine) -> str:
    site, _ = SiteRepository(engine).create("Identity shop")
    return site.site_id
