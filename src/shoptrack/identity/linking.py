"""The identity processor: links visitors to contacts from the identity events carry.

It follows the event log (``processing.runner.ProcessorRunner``), decrypts each identified event's
``identity_enc`` and, per site, matches it against the contacts (``resolve.WorkingSet``):

* a match links the event's visitor (cookie ``sc``) to that contact; the visitor's earlier,
  anonymous events thereby become part of the contact's history (history is read by visitor);
* no match: a new contact right away (``auto_create_contacts``, on by default), or a pending
  identity, kept encrypted, that turns into a link when the contacts API creates the contact;
* an identity that matches two contacts merges them (``resolve`` says how);
* an identity sent without the API key (a browser's) that the site requires signed and that
  is not (``signing``) is a claim: it links nothing, creates nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, select

from shoptrack.identity.crypto import PURPOSE_EVENT_IDENTITY, KeyMaterialError, Keyring
from shoptrack.identity.normalize import ContactPatch, patch_from_event
from shoptrack.identity.resolve import WorkingSet
from shoptrack.identity.signing import Signature, check_identity, load_identity_secret
from shoptrack.identity.store import lock_site
from shoptrack.store.site_settings import REQUIRE_SIGNED, read_settings
from shoptrack.store.tables import events

NAME = "identity"
log = logging.getLogger(__name__)


class IdentityProcessor:
    name = NAME

    def __init__(self, keyring: Keyring, auto_create_contacts: bool = True) -> None:
        self.keyring = keyring
        self.auto_create_contacts = auto_create_contacts
        self.linked = 0
        self.pending = 0
        self.claims = 0  # browser identities that could not link (signing.py)
        self.bad_signatures = 0

    def handle(self, conn: Connection, after: int, upto: int) -> None:
        in_range = (events.c.seq > after) & (events.c.seq <= upto)
        identified = in_range & events.c.identity_enc.is_not(None)
        site_ids = sorted(
            str(s)
            for s in conn.execute(select(events.c.site_id).where(identified).distinct()).scalars()
        )
        if not site_ids:
            return
        # Sorted: two processes locking several sites never wait on each other in a circle.
        for site_id in site_ids:
            lock_site(conn, site_id)
        # Read after the locks: an erasure that finished meanwhile has removed what it erased.
        stmt = (
            select(
                events.c.seq,
                events.c.site_id,
                events.c.visitor_id,
                events.c.identity_enc,
            )
            .where(identified)
            .order_by(events.c.seq)
        )
        by_site: dict[str, list[tuple[int, str | None, ContactPatch]]] = {}
        regions: dict[str, dict[str, Any]] = {s: read_settings(conn, s) for s in site_ids}
        site_secrets = {s: load_identity_secret(conn, self.keyring, s) for s in site_ids}
        for row in conn.execute(stmt):
            try:
                identity = self.keyring.decrypt_json(row.identity_enc, PURPOSE_EVENT_IDENTITY)
            except (KeyMaterialError, ValueError):
                continue  # unreadable identity: nothing to link (logged nowhere: no content)
            if not isinstance(identity, dict):
                continue
            required = regions[row.site_id].get(REQUIRE_SIGNED) is True
            checked = check_identity(identity, site_secrets[row.site_id], required)
            if checked.signature is Signature.INVALID:
                # The event is stored already: say why it links nothing (no personal data).
                log.warning(
                    "site %s event seq %d: user_hash matches none of its identifiers "
                    "(wrong secret, or the value changed after signing); kept as a claim",
                    row.site_id,
                    row.seq,
                )
                self.bad_signatures += 1
            if checked.claim:
                self.claims += 1
            identity = checked.identity
            region = regions[row.site_id].get("default_region")
            patch = patch_from_event(identity, region if isinstance(region, str) else None)
            if patch.identifiers() or patch.contact_ref:
                by_site.setdefault(row.site_id, []).append((row.seq, row.visitor_id, patch))
        for site_id, items in by_site.items():
            setting = regions[site_id].get("auto_create_contacts")
            auto_create = setting if isinstance(setting, bool) else self.auto_create_contacts
            self._link_site(conn, site_id, items, auto_create)

    def _link_site(
        self,
        conn: Connection,
        site_id: str,
        items: list[tuple[int, str | None, ContactPatch]],
        auto_create: bool,
    ) -> None:
        work = WorkingSet(conn, self.keyring, site_id)
        work.ensure_loaded([patch for _, _, patch in items])
        for seq, visitor_id, patch in items:
            outcome = work.upsert(patch, source="event", authoritative=False)
            contact = outcome.contact if outcome is not None else None
            if contact is None and auto_create and patch.identifiers():
                contact = work.create(patch, "event")
            if visitor_id is None:
                continue
            if contact is not None:
                work.link(visitor_id, contact.contact_id, seq)
                self.linked += 1
            else:
                work.add_pending(visitor_id, patch)
                self.pending += 1
        work.flush()
