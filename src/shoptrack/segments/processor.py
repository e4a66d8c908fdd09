"""The ``segments`` processor: facts of each batch of events, then the membership of the
people the batch was about, in the runner's transaction (so a batch's events and the
memberships they cause commit together)."""

from __future__ import annotations

from sqlalchemy import Connection

from shoptrack.identity.crypto import Keyring
from shoptrack.segments.facts import write_facts
from shoptrack.segments.membership import refresh
from shoptrack.segments.repo import list_segments
from shoptrack.store.sql import now_ms

NAME = "segments"


class SegmentsProcessor:
    name = NAME

    def __init__(self, include_bots: bool = False, keyring: Keyring | None = None) -> None:
        self.include_bots = include_bots
        self.keyring = keyring

    def handle(self, conn: Connection, after: int, upto: int) -> None:
        touched = write_facts(conn, after, upto, self.include_bots)
        if not touched:
            return
        now = now_ms()
        for site_id in sorted(touched):
            people = touched[site_id]
            for segment in list_segments(conn, site_id):
                refresh(
                    conn,
                    segment,
                    now,
                    visitors=sorted(people.visitors),
                    contacts=sorted(people.contacts),
                    keyring=self.keyring,
                )
