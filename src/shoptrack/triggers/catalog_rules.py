"""The exact conditions of the rules a catalogue change starts: wishlist, price_drop,
back_in_stock. Read by ``conditions.evaluate`` (the decider and ``triggers preview``).

For each product the contact (any of its visitors, bots left out) saw within ``window_days``
— its latest ``ProductPage`` (price_drop, back_in_stock) or ``AddToWishlist`` (wishlist) —
with the price and stock of that event (the catalogue's at that time when the event has none):

* ``price_drop``: the live price is at most ``seen × (1 − min_drop_percent / 100)`` (same
  currency), and the price history shows when it crossed that line after the sighting;
* ``back_in_stock``: it was out of stock when seen, is in stock now, and the history shows
  when it came back after the sighting;
* ``wishlist``: either of the two (with the wishlist's own thresholds);

and no order of the contact names the product after the sighting. The **change** is the
product and the time of that crossing: each change is carried by one message at most (the
contact's earlier messages of the rule record the changes they carried), and a message is due
``delay`` after its oldest change. It carries up to six such products, newest change first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, select

from shoptrack.catalog.store_ops import live_generation_expr
from shoptrack.store.tables import catalog_history, catalog_products, trigger_messages
from shoptrack.triggers.model import Rule
from shoptrack.triggers.rules import RuleSettings

DAY_MS = 86_400_000
MAX_PRODUCTS = 6
MAX_CHECKED = 20  # the products a "why not" lists (preview)
MAX_EPISODE_KEY = 160
SIGHTING = {
    Rule.WISHLIST: "AddToWishlist",
    Rule.PRICE_DROP: "ProductPage",
    Rule.BACK_IN_STOCK: "ProductPage",
}
_SEEN_WORDS = {Rule.WISHLIST: "wishlisted", Rule.PRICE_DROP: "viewed", Rule.BACK_IN_STOCK: "viewed"}


class PastEvent(Protocol):
    """One event of the contact's history (``conditions.HistoryEvent``)."""

    seq: int
    type: str
    occurred_at: int
    data: dict[str, Any]


@dataclass(slots=True)
class Sighting:
    key: str
    seq: int
    at: int
    price: float | None
    currency: str | None
    in_stock: bool | None


@dataclass(slots=True)
class Change:
    """A watched product that meets the rule now, and since when."""

    key: str
    at: int  # the history row that crossed the line: the change's identity and delay start
    kind: str  # "price_drop" or "back_in_stock"
    seen: Sighting
    price_now: float | None


@dataclass(slots=True)
class CatalogOutcome:
    holds: bool
    reason: str | None = None
    anchor: int | None = None  # the oldest change carried: the message is due delay after it
    episode_key: str | None = None
    products: list[dict[str, Any]] = field(default_factory=list)
    checked: list[dict[str, Any]] = field(default_factory=list)  # why not, per product


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def sightings(rule: Rule, past: Sequence[PastEvent], since: int) -> dict[str, Sighting]:
    """The latest sighting of each product within the window, not followed by an order of it."""
    wanted = SIGHTING[rule]
    seen: dict[str, Sighting] = {}
    bought: set[str] = set()
    for ev in past:  # newest first
        products = [p for p in ev.data.get("products") or () if isinstance(p, dict)]
        keys = [str(p["key"]) for p in products if isinstance(p.get("key"), str) and p["key"]]
        if ev.type == "PurchasedItems":
            bought.update(keys)
        elif ev.type == wanted and keys and ev.occurred_at >= since:
            key, product = keys[0], products[0]
            if key in seen or key in bought:
                continue  # a newer sighting counts, or the product was bought after this one
            stock = product.get("in_stock")
            currency = product.get("currency")
            seen[key] = Sighting(
                key,
                ev.seq,
                ev.occurred_at,
                _number(product.get("price")),
                currency if isinstance(currency, str) else None,
                stock if isinstance(stock, bool) else None,
            )
    return seen


def _history_after(conn: Connection, site_id: str, key: str, after: int) -> list[Any]:
    """The product's price/stock history after ``after``, oldest first (primary key order)."""
    h = catalog_history.c
    stmt = (
        select(h.at, h.price, h.old_price, h.currency, h.in_stock, h.old_in_stock)
        .where(h.site_id == site_id, h.product_key == key, h.at > after)
        .order_by(h.at, h.source)
    )
    return list(conn.execute(stmt).all())


def _live(conn: Connection, site_id: str, keys: list[str]) -> dict[str, Any]:
    p = catalog_products.c
    stmt = select(p.product_key, p.price, p.currency, p.in_stock).where(
        p.site_id == site_id,
        p.generation == live_generation_expr(site_id),
        p.product_key.in_(keys),
    )
    return {str(r.product_key): r for r in conn.execute(stmt)}


def _crossing(rows: list[Any], below: Any) -> int | None:
    """When ``below(row)`` last became true along ``rows`` (None when it is not true at the end)."""
    state, since = False, None
    for row in rows:
        now = bool(below(row))
        if now and not state:
            since = int(row.at)
        state = now
    return since if state else None


def _change(
    rule: Rule, settings: RuleSettings, seen: Sighting, rows: list[Any], live: Any
) -> tuple[Change | None, str]:
    """The product's qualifying change now, or None and why not."""
    if live is None:
        return None, "not in the catalogue"
    if seen.price is None and rows:  # the event said nothing: the catalogue's value then
        seen.price = _number(rows[0].old_price)
    if seen.in_stock is None and rows:
        old = rows[0].old_in_stock
        seen.in_stock = old if isinstance(old, bool) else None
    found: list[Change] = []
    why: list[str] = []
    if rule in (Rule.PRICE_DROP, Rule.WISHLIST):
        drop = settings.threshold("min_drop_percent")
        price_now = _number(live.price)
        if seen.price is None or price_now is None:
            why.append("no price to compare")
        elif seen.currency and live.currency and seen.currency != live.currency:
            why.append(f"currency changed ({seen.currency} → {live.currency})")
        else:
            line = seen.price * (1 - drop / 100)
            at = _crossing(rows, lambda r: r.price is not None and float(r.price) <= line)
            if price_now > line:
                off = 100 * (1 - price_now / seen.price) if seen.price else 0.0
                why.append(
                    f"{seen.price:g} then, {price_now:g} now ({off:.1f} % off, {drop:g} % needed)"
                )
            elif at is None:
                why.append("no price drop in the catalogue's history since then")
            else:
                found.append(Change(seen.key, at, "price_drop", seen, price_now))
    if rule in (Rule.BACK_IN_STOCK, Rule.WISHLIST):
        if seen.in_stock is not False:
            why.append("it was in stock then" if seen.in_stock else "stock unknown then")
        elif live.in_stock is not True:
            why.append("still out of stock")
        else:
            at = _crossing(rows, lambda r: r.in_stock is True)
            if at is None:
                why.append("no return to stock in the catalogue's history since then")
            else:
                found.append(Change(seen.key, at, "back_in_stock", seen, _number(live.price)))
    if not found:
        return None, "; ".join(why)
    return max(found, key=lambda c: c.at), ""


def carried_changes(
    conn: Connection, site_id: str, contact_id: str, rule: Rule, since: int
) -> set[tuple[str, int]]:
    """(product, change time) of every change an earlier message of the rule carried."""
    m = trigger_messages.c
    stmt = select(m.content).where(
        m.site_id == site_id,
        m.contact_id == contact_id,
        m.decided_at >= since,
        m.rule == rule.value,
    )
    out: set[tuple[str, int]] = set()
    for content in conn.execute(stmt).scalars():
        body = orjson.loads(content or "{}")
        for item in body.get("products") or () if isinstance(body, dict) else ():
            if isinstance(item, dict) and isinstance(item.get("change_at"), int):
                out.add((str(item.get("product_id")), int(item["change_at"])))
    return out


def already_carried(conn: Connection, site_id: str, contact_id: str, verdict: Any) -> bool:
    """Whether an earlier message of the rule carried one of ``verdict.products``' changes."""
    changes = {
        (str(p.get("product_id")), p.get("change_at"))
        for p in verdict.products
        if isinstance(p.get("change_at"), int)
    }
    if not changes:
        return False
    since = min(int(p.get("seen_at") or 0) for p in verdict.products)
    return bool(changes & carried_changes(conn, site_id, contact_id, verdict.rule, since))


def episode_key(change: Change) -> str:
    key = f"c:{change.at}:{change.key}"
    if len(key) <= MAX_EPISODE_KEY:
        return key
    return f"c:{change.at}:h{hashlib.sha256(change.key.encode()).hexdigest()[:40]}"


def evaluate_catalog_rule(
    conn: Connection,
    site_id: str,
    contact_id: str,
    settings: RuleSettings,
    past: Sequence[PastEvent],
    now: int,
) -> CatalogOutcome:
    """Whether ``settings.rule`` holds for the contact now, with its due products (reads only)."""
    rule = settings.rule
    days = int(settings.threshold("window_days"))
    since = now - days * DAY_MS
    seen = sightings(rule, past, since)
    if rule is Rule.BACK_IN_STOCK:
        seen = {k: s for k, s in seen.items() if s.in_stock is not True}
    word = _SEEN_WORDS[rule]
    if not seen:
        how = " out of stock" if rule is Rule.BACK_IN_STOCK else ""
        return CatalogOutcome(False, f"no product {word}{how} in the last {days} days")
    live = _live(conn, site_id, sorted(seen))
    changes: list[Change] = []
    outcome = CatalogOutcome(False)
    for key, sighting in sorted(seen.items(), key=lambda kv: -kv[1].at):
        rows = _history_after(conn, site_id, key, sighting.at)
        change, why = _change(rule, settings, sighting, rows, live.get(key))
        if change is None:
            if len(outcome.checked) < MAX_CHECKED:
                outcome.checked.append({"product_id": key, "why_not": why})
        else:
            changes.append(change)
    if not changes:
        outcome.reason = f"no {word} product changed enough since"
        return outcome
    carried = carried_changes(conn, site_id, contact_id, rule, since)
    fresh = [c for c in changes if (c.key, c.at) not in carried]
    if not fresh:
        outcome.reason = "already sent: every change was in an earlier message"
        return outcome
    delay = settings.delay_ms
    due = [c for c in fresh if c.at + delay <= now] or fresh  # none due: "not due yet" after
    due.sort(key=lambda c: -c.at)
    due = due[:MAX_PRODUCTS]
    oldest = min(due, key=lambda c: c.at)
    outcome.holds = True
    outcome.anchor = oldest.at
    outcome.episode_key = episode_key(oldest)
    for c in due:
        outcome.products.append(
            {
                "product_id": c.key,
                "price_then": c.seen.price,
                "currency": c.seen.currency,
                "change": c.kind,
                "change_at": c.at,
                "seen_at": c.seen.at,
            }
        )
    return outcome
