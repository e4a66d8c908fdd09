"""The identity objects one process shares (built by ``shoptrack.services.Services``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from shoptrack.config import Settings
from shoptrack.identity.contacts import ContactService
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.erasure import ErasureReport, ErasureStep, erase_contact
from shoptrack.store.site_settings import SiteSettings


@dataclass
class IdentityServices:
    engine: Engine
    keyring: Keyring
    contacts: ContactService
    site_settings: SiteSettings

    @classmethod
    def build(cls, _settings: Settings, engine: Engine, keyring: Keyring) -> IdentityServices:
        return cls(engine, keyring, ContactService(engine, keyring), SiteSettings(engine))

    def erase(
        self,
        site_id: str,
        contact_id: str,
        actor: str,
        catch_up: Callable[[], None],
        also: Sequence[ErasureStep] = (),
    ) -> ErasureReport:
        """Erase a contact once ``catch_up`` has let the processors read every committed event
        (so no event linked after the erasure brings the person back); ``also`` are the
        erasure steps of the packages above identity."""
        return erase_contact(
            self.engine, self.keyring, site_id, contact_id, actor=actor, catch_up=catch_up,
            also=also,
        )  # fmt: skip
