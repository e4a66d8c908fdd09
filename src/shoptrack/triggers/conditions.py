"""Each rule's exact condition, read from the event log and the catalogue as they are now.

Shared by the decider (``decide.py``) and ``shoptrack triggers preview``: both ask
:func:`evaluate`, which reads and never writes. The checks, in order (the first that fails is
the reason given):

1. the rule is enabled;
2. the visitor belongs to a contact (anonymous: nothing, no message row);
3. the rule's condition over the events of **every visitor of the contact** (bots left out):

   * ``abandoned_cart``: the latest ``StatusCart`` holds products, no ``PurchasedItems``
     followed it (by any visitor of the contact) and none names its GUID (by anyone), and
     ``delay`` has passed since it;
   * ``abandoned_browse``: ``ProductPage`` views after the latest cart change or order, the
     latest of them at least ``delay`` ago;
   * ``search_no_results``: a ``SearchRequest`` with ``isFound`` 0 after the latest order,
     at least ``delay`` ago;
   * ``wishlist``, ``price_drop``, ``back_in_stock``: a product the contact wishlisted or
     viewed got cheaper or came back in stock since (``catalog_rules.py`` says exactly), at
     least ``delay`` ago; when none did, no message row (the episode ends with the reason);

4. the contact has not unsubscribed from the channel (under its id or the id of a contact
   merged into it since), and is in the rule's segment when it has one (``segment_id``);
5. the contact has an address for the channel (an e-mail; a webhook rule needs its URL);
6. the caps: the rule at most once per ``cap_days`` per contact, all rules at most
   ``SHOPTRACK_TRIGGERS_DAILY_CAP`` per contact per 24 hours (messages pending, sending or
   sent count; to any of the person's contact ids).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from sqlalchemy import Connection, select

from shoptrack.catalog.store_ops import live_generation_expr
from shoptrack.events.traffic import is_bot_event
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.store import ContactRecord, merged_ids, resolve_contact, visitors_of
from shoptrack.segments.membership import is_member
from shoptrack.store.sql import chunks
from shoptrack.store.tables import (
    catalog_products,
    contact_visitors,
    events,
    trigger_messages,
    trigger_unsubscribes,
)
from shoptrack.triggers.catalog_rules import evaluate_catalog_rule
from shoptrack.triggers.model import Channel, MessageStatus, Rule
from shoptrack.triggers.rules import EVALUATED, RuleSettings
from shoptrack.triggers.schedule import cart_episode

DAY_MS = 86_400_000
MAX_PRODUCTS = 6
# The newest events of a contact read per decision: enough for any cart or browse episode.
HISTORY_EVENTS = 1000
HISTORY_TYPES = ("StatusCart", "PurchasedItems", "ProductPage", "SearchRequest", "AddToWishlist")
# The rules a catalogue change starts: no message row when they do not hold.
CATALOG_RULES = (Rule.WISHLIST, Rule.PRICE_DROP, Rule.BACK_IN_STOCK)
# Messages that count against the caps (a cancelled or suppressed one reached nobody).
COUNTED = (MessageStatus.PENDING.value, MessageStatus.SENDING.value, MessageStatus.SENT.value)

# (site_id, contact_id, product keys of the message) -> recommendation items as the
# recommendation service renders them; must not raise for "no model".
Recommender = Callable[[str, str, list[str]], list[dict[str, Any]]]


@dataclass(slots=True)
class HistoryEvent:
    seq: int
    type: str
    occurred_at: int
    cart_guid: str | None
    data: dict[str, Any]


@dataclass(slots=True)
class Verdict:
    """What a rule would do now for one contact, and why."""

    rule: Rule
    status: MessageStatus | None  # the message row it makes; None: no row (not due, anonymous …)
    reason: str | None = None
    due_at: int | None = None  # when the condition's delay is over
    episode_key: str | None = None
    products: list[dict[str, Any]] = field(default_factory=list)
    product_keys: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    upto_seq: int = 0  # the newest event read: the sender looks for orders after it

    @property
    def sends(self) -> bool:
        return self.status is MessageStatus.PENDING


@dataclass(slots=True)
class ContactView:
    record: ContactRecord
    visitors: list[str]

    @property
    def contact_id(self) -> str:
        return self.record.contact_id

    @property
    def email(self) -> str | None:
        value = self.record.profile.get("email")
        return value if isinstance(value, str) and value else None


def contact_of_visitor(conn: Connection, site_id: str, visitor_id: str) -> str | None:
    c = contact_visitors.c
    stmt = select(c.contact_id).where(c.site_id == site_id, c.visitor_id == visitor_id)
    found = conn.execute(stmt).scalar()
    return str(found) if found is not None else None


def load_contact_view(
    conn: Connection, keyring: Keyring, site_id: str, contact_id: str
) -> ContactView | None:
    """The live contact (merges followed) and its visitors; None when there is none."""
    record = resolve_contact(conn, keyring, site_id, contact_id)
    if record is None:
        return None
    visitors = [str(v["visitor_id"]) for v in visitors_of(conn, site_id, record.contact_id)]
    return ContactView(record, visitors)


def history(conn: Connection, site_id: str, visitors: list[str]) -> list[HistoryEvent]:
    """The contact's newest relevant events, newest first, bot traffic left out."""
    e = events.c
    rows: list[Any] = []
    for part in chunks(visitors):
        stmt = (
            select(e.seq, e.type, e.occurred_at, e.cart_guid, e.data)
            .where(e.site_id == site_id, e.visitor_id.in_(part), e.type.in_(HISTORY_TYPES))
            .order_by(e.seq.desc())
            .limit(HISTORY_EVENTS)
        )
        rows.extend(conn.execute(stmt).all())
    rows.sort(key=lambda r: -int(r.seq))
    out = []
    for r in rows[:HISTORY_EVENTS]:
        data = orjson.loads(r.data)
        if isinstance(data, dict) and not is_bot_event(data):
            out.append(HistoryEvent(int(r.seq), r.type, int(r.occurred_at), r.cart_guid, data))
    return out


def _ordered_by_guid(conn: Connection, site_id: str, cart_guid: str) -> bool:
    e = events.c
    stmt = select(e.seq).where(
        e.site_id == site_id, e.cart_guid == cart_guid, e.type == "PurchasedItems"
    )
    return conn.execute(stmt.limit(1)).first() is not None


def _keys(event: HistoryEvent) -> list[dict[str, Any]]:
    return [p for p in event.data.get("products") or () if isinstance(p, dict) and p.get("key")]


def _cart(conn: Connection, site_id: str, past: list[HistoryEvent], verdict: Verdict) -> bool:
    cart = next((ev for ev in past if ev.type == "StatusCart"), None)
    if cart is None:
        verdict.reason = "no cart"
        return False
    verdict.episode_key = cart_episode(cart.cart_guid, cart.seq)
    lines = _keys(cart)
    if not lines:
        verdict.reason = "the cart is empty"
        return False
    if any(ev.type == "PurchasedItems" and ev.seq > cart.seq for ev in past) or (
        cart.cart_guid and _ordered_by_guid(conn, site_id, cart.cart_guid)
    ):
        verdict.reason = "ordered after the cart"
        return False
    verdict.due_at = cart.occurred_at
    for line in lines[:MAX_PRODUCTS]:
        verdict.product_keys.append(str(line["key"]))
        verdict.products.append(
            {
                "product_id": str(line["key"]),
                "price_then": line.get("price"),
                "currency": line.get("currency"),
                "quantity": line.get("quantity"),
            }
        )
    return True


def _browse(past: list[HistoryEvent], verdict: Verdict) -> bool:
    views: list[HistoryEvent] = []
    for ev in past:  # newest first: the views after the latest cart change or order
        if ev.type in ("StatusCart", "PurchasedItems"):
            break
        if ev.type == "ProductPage":
            views.append(ev)
    if not views:
        verdict.reason = "no product views since the last cart change or order"
        return False
    verdict.due_at = views[0].occurred_at
    verdict.episode_key = f"s:{views[-1].seq}"
    for ev in views:
        for line in _keys(ev)[:1]:
            key = str(line["key"])
            if key not in verdict.product_keys and len(verdict.product_keys) < MAX_PRODUCTS:
                verdict.product_keys.append(key)
                verdict.products.append({"product_id": key, "price_then": line.get("price")})
    return True


def _search(past: list[HistoryEvent], verdict: Verdict) -> bool:
    for ev in past:
        if ev.type == "PurchasedItems":
            break
        search = ev.data.get("search") if ev.type == "SearchRequest" else None
        if isinstance(search, dict) and search.get("found") is False:
            verdict.due_at = ev.occurred_at
            verdict.episode_key = f"s:{ev.seq}"
            verdict.extra["query"] = search.get("query")
            return True
    verdict.reason = "no search without results since the last order"
    return False


def person_ids(conn: Connection, site_id: str, contact_id: str) -> list[str]:
    """The contact and the contacts merged into it: one person, whose unsubscribes and
    messages count whichever of its ids they were recorded under (merges keep
    ``merged_into`` pointing at the survivor, so one level is all of them)."""
    return [contact_id, *merged_ids(conn, site_id, contact_id)]


def _catalog(
    conn: Connection,
    site_id: str,
    contact_id: str,
    settings: RuleSettings,
    past: list[HistoryEvent],
    now: int,
    verdict: Verdict,
) -> bool:
    outcome = evaluate_catalog_rule(conn, site_id, contact_id, settings, past, now)
    if not outcome.holds:
        verdict.reason = outcome.reason
        if outcome.checked:
            verdict.extra["checked"] = outcome.checked
        return False
    verdict.due_at = outcome.anchor
    verdict.episode_key = outcome.episode_key
    verdict.products = outcome.products
    verdict.product_keys = [str(p["product_id"]) for p in outcome.products]
    return True


def is_unsubscribed(conn: Connection, site_id: str, contact_id: str, channel: Channel) -> bool:
    u = trigger_unsubscribes.c
    stmt = select(u.at).where(
        u.site_id == site_id,
        u.contact_id.in_(person_ids(conn, site_id, contact_id)),
        u.channel.in_([channel.value, "all"]),
    )
    return conn.execute(stmt.limit(1)).first() is not None


def cap_reason(
    conn: Connection,
    site_id: str,
    contact_id: str,
    settings: RuleSettings,
    daily_cap: int,
    now: int,
) -> str | None:
    """Why the caps forbid one more message now, or None (one indexed read of the contact's
    recent messages for both caps)."""
    m = trigger_messages.c
    since = now - max(1, settings.cap_days) * DAY_MS
    stmt = select(m.rule, m.decided_at).where(
        m.site_id == site_id,
        m.contact_id.in_(person_ids(conn, site_id, contact_id)),
        m.decided_at > since,
        m.status.in_(COUNTED),
    )
    recent = conn.execute(stmt).all()
    if settings.cap_days > 0 and any(r.rule == settings.rule.value for r in recent):
        rule, days = settings.rule.value, settings.cap_days
        return f"cap: {rule} already sent to the contact within {days} days"
    if sum(1 for r in recent if r.decided_at > now - DAY_MS) >= daily_cap:
        return f"daily cap: {daily_cap} messages to the contact in 24 hours"
    return None


def catalogue_products(
    conn: Connection, site_id: str, keys: list[str]
) -> dict[str, dict[str, Any]]:
    """The live catalogue's name, link, image and price of each key it knows."""
    if not keys:
        return {}
    p = catalog_products.c
    stmt = select(p.product_key, p.title, p.link, p.image_link, p.price, p.currency).where(
        p.site_id == site_id,
        p.generation == live_generation_expr(site_id),
        p.product_key.in_(keys),
    )
    return {
        str(r.product_key): {
            "name": r.title,
            "url": r.link,
            "image_url": r.image_link,
            "price": r.price,
            "currency": r.currency,
        }
        for r in conn.execute(stmt)
    }


def evaluate(
    conn: Connection,
    site_id: str,
    settings: RuleSettings,
    contact: ContactView | None,
    now: int,
    daily_cap: int,
) -> Verdict:
    """What ``settings.rule`` does now for ``contact`` (see the module's list). Reads only."""
    rule = settings.rule
    verdict = Verdict(rule, None)
    if rule not in EVALUATED:
        verdict.reason = "not evaluated yet"
        return verdict
    if not settings.enabled:
        verdict.reason = "the rule is disabled"
        return verdict
    if contact is None:
        verdict.reason = "anonymous: the visitor is not linked to a contact"
        return verdict
    past = history(conn, site_id, contact.visitors)
    verdict.upto_seq = past[0].seq if past else 0
    if rule is Rule.ABANDONED_CART:
        holds = _cart(conn, site_id, past, verdict)
    elif rule is Rule.ABANDONED_BROWSE:
        holds = _browse(past, verdict)
    elif rule in CATALOG_RULES:
        holds = _catalog(conn, site_id, contact.contact_id, settings, past, now, verdict)
    else:
        holds = _search(past, verdict)
    if not holds:
        # A cart or browse episode that no longer holds is recorded as cancelled; a catalogue
        # rule that does not hold has nothing to record (a wake-up that found no change).
        verdict.status = None if rule in CATALOG_RULES else MessageStatus.CANCELLED
        return verdict
    assert verdict.due_at is not None
    verdict.due_at += settings.delay_ms
    if verdict.due_at > now:
        verdict.reason = "not due yet"
        return verdict
    suppressed = _suppression(conn, site_id, settings, contact, now, daily_cap)
    if suppressed is not None:
        verdict.status, verdict.reason = MessageStatus.SUPPRESSED, suppressed
        return verdict
    verdict.status = MessageStatus.PENDING
    return verdict


def _suppression(
    conn: Connection,
    site_id: str,
    settings: RuleSettings,
    contact: ContactView,
    now: int,
    daily_cap: int,
) -> str | None:
    if is_unsubscribed(conn, site_id, contact.contact_id, settings.channel):
        return "unsubscribed"
    if settings.segment_id is not None and not is_member(
        conn, site_id, settings.segment_id, person_ids(conn, site_id, contact.contact_id)
    ):
        return f"not in segment {settings.segment_id}"
    if settings.channel is Channel.EMAIL and contact.email is None:
        return "no e-mail address"
    if settings.channel is Channel.WEBHOOK and not settings.webhook_url:
        return "no webhook_url configured"
    return cap_reason(conn, site_id, contact.contact_id, settings, daily_cap, now)


def fill_products(conn: Connection, site_id: str, verdict: Verdict) -> None:
    """The message's products with what the catalogue says now (name, link, image, price)."""
    known = catalogue_products(conn, site_id, verdict.product_keys)
    for item in verdict.products:
        now_values = known.get(item["product_id"], {})
        for name in ("name", "url", "image_url", "price"):
            item[name] = now_values.get(name)
        item["currency"] = now_values.get("currency") or item.get("currency")


def recommendation_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The recommendation service's rendered items as message products (at most six)."""
    out = []
    for item in items[:MAX_PRODUCTS]:
        key = item.get("product_id")
        if not isinstance(key, str):
            continue
        out.append(
            {
                "product_id": key,
                "name": item.get("name"),
                "url": without_param(item.get("url"), "sc_content"),
                "image_url": item.get("image"),
                "price": item.get("price"),
                "currency": item.get("currency"),
            }
        )
    return out


def without_param(url: Any, name: str) -> str | None:
    """``url`` without the query parameter ``name``: the serving block's ``sc_content`` is not
    the message's (the channel's link maker adds the message's own)."""
    if not isinstance(url, str) or not url:
        return None
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    return urlunsplit(parts._replace(query=urlencode(query)))
