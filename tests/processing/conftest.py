"""The store-level fixtures of the identity tests (a migrated engine's keys, log, runner, site)."""

from tests.identity.conftest import event_log, keyring, runner, site_id

__all__ = ["event_log", "keyring", "runner", "site_id"]
