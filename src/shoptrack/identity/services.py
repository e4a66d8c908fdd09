"""The identity objects one process shares (built by ``shoptrack.services.Services``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from shoptrack.config import Settings
from shoptrack.identity.contacts import ContactService
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.erasure import ErasureReport, erase_contact
from shoptrack.processing.runner import ProcessorRunner, build_runner
from shoptrack.store.site_settings import SiteSettings


@dataclass
class IdentityServices:
    engine: Engine
    keyring: Keyring
    contacts: ContactService
    site_settings: SiteSettings
    runner: ProcessorRunner

    @classmethod
    def build(cls, settings: Settings, engine: Engine, keyring: Keyring) -> IdentityServices:
        return cls(
            engine,
            keyring,
            ContactService(engine, keyring),
            SiteSettings(engine),
            build_runner(settings, engine, keyring),
        )

    def erase(self, site_id: str, contact_id: str, actor: str) -> ErasureReport:
        """Erase a contact after the processors have read every committed event."""

        def catch_up() -> None:
            self.runner.drain(gap_wait_s=None)

        return erase_contact(
            self.engine, self.keyring, site_id, contact_id, actor=actor, catch_up=catch_up
        )
