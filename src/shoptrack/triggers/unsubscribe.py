"""Unsubscribe links: a signed token per (site, contact, channel), and recording its use.

Token: ``base64url(site_id "\\n" contact_id "\\n" channel) "." hex(HMAC-SHA256)``. The MAC
is the keyring's blind-index HMAC (``Keyring.blind_index``) under its own purpose,
``trigger-unsubscribe``: a 256-bit server secret kept with the encryption keys, which
``keys rotate`` leaves alone, so links in mail already sent keep working after a rotation.
Without the key nobody can make a token for another contact (2^256 MACs to guess), and a
token is checked with a constant-time comparison. A token says nothing about whether its
contact still exists: the endpoint records the unsubscribe either way, so it reveals nothing.

A contact subscribes again only through the shop (``PUT
/api/v1/contacts/{id}/subscriptions/{channel}`` or ``shoptrack triggers subscribe``), never
by a link: the shop holds the consent that makes it lawful.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

from shoptrack.errors import NotFound
from shoptrack.events.model import iso_ms
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.store import resolve_contact_row
from shoptrack.store.sql import insert_for, now_ms
from shoptrack.store.tables import trigger_unsubscribes
from shoptrack.triggers.conditions import is_unsubscribed as unsubscribed_on
from shoptrack.triggers.conditions import person_ids
from shoptrack.triggers.model import Channel

UNSUBSCRIBE_PATH = "/unsubscribe"
_PURPOSE = "trigger-unsubscribe"
_MAX_TOKEN = 512


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    site_id: str
    contact_id: str
    channel: Channel


def _mac(keyring: Keyring, payload: str) -> str:
    return keyring.blind_index(payload, _PURPOSE)


def make_token(keyring: Keyring, site_id: str, contact_id: str, channel: Channel) -> str:
    if "\n" in site_id or "\n" in contact_id:
        raise ValueError("site and contact ids cannot hold a line break")
    raw = f"{site_id}\n{contact_id}\n{channel.value}".encode()
    payload = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return f"{payload}.{_mac(keyring, payload)}"


def verify_token(keyring: Keyring, token: str) -> Unsubscribe | None:
    """Who the token unsubscribes, or None when it is not one of ours (never raises)."""
    if len(token) > _MAX_TOKEN or token.count(".") != 1:
        return None
    payload, mac = token.split(".")
    if not hmac.compare_digest(_mac(keyring, payload).encode(), mac.encode()):
        return None
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        site_id, contact_id, channel = raw.split("\n")
        return Unsubscribe(site_id, contact_id, Channel(channel))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None  # signed by us but unreadable: cannot happen unless the format changed


def make_unsubscribe_url(
    public_url: str, keyring: Keyring, site_id: str, contact_id: str, channel: Channel
) -> str:
    """``{public_url}/unsubscribe/{token}``: the link in the message and its header."""
    token = make_token(keyring, site_id, contact_id, channel)
    return f"{public_url.rstrip('/')}{UNSUBSCRIBE_PATH}/{token}"


def record_unsubscribe(engine: Engine, who: Unsubscribe) -> None:
    """Store the unsubscribe; a repeated one keeps its first time."""
    with engine.begin() as conn:
        statement = insert_for(conn, trigger_unsubscribes).values(
            site_id=who.site_id, contact_id=who.contact_id, channel=who.channel.value, at=now_ms()
        )
        conn.execute(statement.on_conflict_do_nothing())


def is_unsubscribed(engine: Engine, site_id: str, contact_id: str, channel: Channel) -> bool:
    """The engine's own check (``conditions.is_unsubscribed``), on a connection of its own."""
    with engine.connect() as conn:
        return unsubscribed_on(conn, site_id, contact_id, channel)


def subscriptions(engine: Engine, site_id: str, contact_id: str) -> dict[str, Any]:
    """Each channel's state for a contact (an id merged away answers for its survivor):
    ``{"contact_id", "channels": {"email": {"subscribed", "unsubscribed_at"}, …}}``."""
    with engine.connect() as conn:
        cid = _live_contact(conn, site_id, contact_id)
        return _states(conn, site_id, cid)


def set_subscribed(
    engine: Engine, site_id: str, contact_id: str, channel: Channel, subscribed: bool
) -> dict[str, Any]:
    """Subscribe a contact to a channel again (its unsubscribes, under any of the person's
    ids, go) or unsubscribe it (as its link does); the new states."""
    with engine.begin() as conn:
        cid = _live_contact(conn, site_id, contact_id)
        u = trigger_unsubscribes.c
        if subscribed:
            conn.execute(
                delete(trigger_unsubscribes).where(
                    u.site_id == site_id,
                    u.contact_id.in_(person_ids(conn, site_id, cid)),
                    u.channel.in_([channel.value, "all"]),
                )
            )
        else:
            statement = insert_for(conn, trigger_unsubscribes).values(
                site_id=site_id, contact_id=cid, channel=channel.value, at=now_ms()
            )
            conn.execute(statement.on_conflict_do_nothing())
        return _states(conn, site_id, cid)


def _live_contact(conn: Connection, site_id: str, contact_id: str) -> str:
    row = resolve_contact_row(conn, site_id, contact_id[:64])
    if row is None:
        raise NotFound(f"no contact {contact_id[:64]!r}", "contact_id")
    return str(row.contact_id)


def _states(conn: Connection, site_id: str, contact_id: str) -> dict[str, Any]:
    u = trigger_unsubscribes.c
    stmt = select(u.channel, func.min(u.at)).where(
        u.site_id == site_id, u.contact_id.in_(person_ids(conn, site_id, contact_id))
    )
    since = {str(ch): int(at) for ch, at in conn.execute(stmt.group_by(u.channel))}
    channels: dict[str, Any] = {}
    for channel in Channel:
        at = min((since[c] for c in (channel.value, "all") if c in since), default=None)
        channels[channel.value] = {
            "subscribed": at is None,
            "unsubscribed_at": iso_ms(at),
        }
    return {"contact_id": contact_id, "channels": channels}
