"""The ``triggers`` processor: keeps each visitor's open episode per rule and when it is due.

It follows the event log like every processor (``processing.runner``: one transaction per batch,
cursor ``triggers``) and only schedules: per event one upsert or one update of
``trigger_candidates``, no decision. Whether a message goes out is decided when the episode is
due (``decide.py``), from the data as it is then. What it does, per event of a site with at
least one enabled rule (bot traffic, :func:`~shoptrack.events.traffic.is_bot_event`, never
starts anything):

* ``StatusCart`` with products: the visitor's ``abandoned_cart`` episode is due ``delay`` after
  this event (a later cart change moves it); the episode is the cart's GUID, or the first cart
  event's seq when the shop sends none. A cart change also ends the browse episode.
* ``StatusCart`` empty: the cart and browse episodes end.
* ``PurchasedItems``: the visitor's cart and browse episodes end, and the cart episode of the
  order's GUID whoever's it is; the contact's cart and browse messages not sent yet are
  cancelled (the decider also checks the orders of every visitor of the contact, and the
  sender checks again just before sending).
* ``ProductPage``: the ``abandoned_browse`` episode (first view's seq) is due ``delay`` after
  the latest view.
* ``SearchRequest`` with ``isFound`` 0: a ``search_no_results`` episode, due ``delay`` after.
* ``ProductPage`` and ``AddToWishlist``: what the visitor saw of the product, for the rules a
  catalogue change starts (``watch_store.py``); an order forgets its products' sightings. Their
  episodes are opened by the catalogue watcher (``watcher.py``), not here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, case, select, update

from shoptrack.events.traffic import is_bot_event
from shoptrack.store.sql import insert_for, now_ms
from shoptrack.store.tables import contact_visitors, events, trigger_candidates, trigger_messages
from shoptrack.triggers.model import MessageStatus, Rule
from shoptrack.triggers.rules import RuleSettings, enabled_rules
from shoptrack.triggers.watch_store import WATCH_RULES, first_product, forget, record_sighting

NAME = "triggers"
OPEN = "open"
DONE = "done"
TYPES = ("StatusCart", "PurchasedItems", "ProductPage", "SearchRequest", "AddToWishlist")
_VIEW_RULES = frozenset({Rule.PRICE_DROP, Rule.BACK_IN_STOCK})
# Episode keys: a cart's GUID ("g:"), else the seq of the episode's first event ("s:").
GUID_PREFIX = "g:"


def cart_episode(cart_guid: str | None, seq: int) -> str:
    return f"{GUID_PREFIX}{cart_guid}" if cart_guid else f"s:{seq}"


# Built once per dialect: building a statement costs more than running it (per event).
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(conn: Connection, name: str) -> Any:
    key = (conn.dialect.name, name)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = _BUILDERS[name](conn)
    return stmt


def _upsert(conn: Connection) -> Any:
    c = trigger_candidates.c
    stmt = insert_for(conn, trigger_candidates)
    new = stmt.excluded
    # An ended episode, or a cart with another GUID, starts a new one; an open one keeps its
    # key and first seq and only moves its due time.
    restart = (c.state == DONE) | (
        new.episode_key.startswith(GUID_PREFIX) & (c.episode_key != new.episode_key)
    )
    return stmt.on_conflict_do_update(
        index_elements=["site_id", "rule", "visitor_id"],
        set_={
            "episode_key": case((restart, new.episode_key), else_=c.episode_key),
            "first_seq": case((restart, new.first_seq), else_=c.first_seq),
            "due_at": new.due_at,
            "last_seq": new.last_seq,
            "state": OPEN,
            "reason": None,
            "updated_at": new.updated_at,
        },
    )


def _end_visitor(_conn: Connection) -> Any:
    c = trigger_candidates.c
    return (
        update(trigger_candidates)
        .where(
            c.site_id == bindparam("b_site"),
            c.rule.in_(bindparam("b_rules", expanding=True)),
            c.visitor_id == bindparam("b_visitor"),
            c.state == OPEN,
        )
        .values(state=DONE, reason=bindparam("b_reason"), updated_at=bindparam("b_at"))
    )


def _end_guid(_conn: Connection) -> Any:
    c = trigger_candidates.c
    return (
        update(trigger_candidates)
        .where(
            c.site_id == bindparam("b_site"),
            c.rule == Rule.ABANDONED_CART.value,
            c.episode_key == bindparam("b_episode"),
            c.state == OPEN,
        )
        .values(state=DONE, reason=bindparam("b_reason"), updated_at=bindparam("b_at"))
    )


_BUILDERS = {"upsert": _upsert, "end_visitor": _end_visitor, "end_guid": _end_guid}


def open_episode(
    conn: Connection,
    site_id: str,
    rule: Rule,
    visitor_id: str,
    episode_key: str,
    due_at: int,
    seq: int,
) -> None:
    """Open or extend the visitor's episode of ``rule``, due at ``due_at``."""
    conn.execute(
        _statement(conn, "upsert"),
        {
            "site_id": site_id,
            "rule": rule.value,
            "visitor_id": visitor_id,
            "episode_key": episode_key,
            "due_at": due_at,
            "first_seq": seq,
            "last_seq": seq,
            "state": OPEN,
            "reason": None,
            "updated_at": now_ms(),
        },
    )


def open_episodes(
    conn: Connection,
    site_id: str,
    rule: Rule,
    visitors: list[str],
    episode_key: str,
    due_at: int,
    version: int,
) -> None:
    """:func:`open_episode` for many visitors in one statement; ``version`` stands in for the
    event seq (the decider re-reads an episode whose ``last_seq`` moved while it decided)."""
    at = now_ms()
    rows = [
        {
            "site_id": site_id,
            "rule": rule.value,
            "visitor_id": visitor,
            "episode_key": episode_key,
            "due_at": due_at,
            "first_seq": version,
            "last_seq": version,
            "state": OPEN,
            "reason": None,
            "updated_at": at,
        }
        for visitor in visitors
    ]
    if rows:
        conn.execute(_statement(conn, "upsert"), rows)


def end_episodes(
    conn: Connection, site_id: str, rules: Iterable[Rule], visitor_id: str, reason: str
) -> None:
    params = {
        "b_site": site_id,
        "b_rules": [r.value for r in rules],
        "b_visitor": visitor_id,
        "b_reason": reason,
        "b_at": now_ms(),
    }
    conn.execute(_statement(conn, "end_visitor"), params)


def end_cart_episode(conn: Connection, site_id: str, cart_guid: str, reason: str) -> None:
    params = {
        "b_site": site_id,
        "b_episode": f"{GUID_PREFIX}{cart_guid}",
        "b_reason": reason,
        "b_at": now_ms(),
    }
    conn.execute(_statement(conn, "end_guid"), params)


def cancel_pending(conn: Connection, site_id: str, visitor_id: str) -> None:
    """An order cancels the contact's cart and browse messages not sent yet."""
    link = contact_visitors.c
    contact_id = conn.execute(
        select(link.contact_id).where(link.site_id == site_id, link.visitor_id == visitor_id)
    ).scalar()
    if contact_id is None:
        return
    m = trigger_messages.c
    conn.execute(
        update(trigger_messages)
        .where(
            m.site_id == site_id,
            m.contact_id == contact_id,
            m.rule.in_([Rule.ABANDONED_CART.value, Rule.ABANDONED_BROWSE.value]),
            m.status == MessageStatus.PENDING.value,
        )
        .values(status=MessageStatus.CANCELLED.value, reason="ordered", next_attempt_at=None)
    )


class TriggerProcessor:
    name = NAME

    def handle(self, conn: Connection, after: int, upto: int) -> None:
        e = events.c
        in_range = (e.seq > after) & (e.seq <= upto) & e.type.in_(TYPES)
        site_ids = [
            str(s) for s in conn.execute(select(e.site_id).where(in_range).distinct()).scalars()
        ]
        rules_by_site = enabled_rules(conn, site_ids)
        if not rules_by_site:
            return  # no site of this batch has a rule on: nothing to schedule
        stmt = (
            select(e.seq, e.site_id, e.type, e.occurred_at, e.visitor_id, e.cart_guid, e.data)
            .where(in_range, e.site_id.in_(sorted(rules_by_site)))
            .order_by(e.seq)
        )
        for row in conn.execute(stmt).all():
            data = orjson.loads(row.data)
            if not isinstance(data, dict) or is_bot_event(data):
                continue
            self._event(conn, rules_by_site[row.site_id], row, data)

    def _event(
        self, conn: Connection, rules: dict[Rule, RuleSettings], row: Any, data: dict[str, Any]
    ) -> None:
        site_id, visitor, seq = row.site_id, row.visitor_id, int(row.seq)
        if row.type == "PurchasedItems":
            if row.cart_guid:
                end_cart_episode(conn, site_id, row.cart_guid, "ordered")
            if visitor:
                end_episodes(
                    conn, site_id, (Rule.ABANDONED_CART, Rule.ABANDONED_BROWSE), visitor, "ordered"
                )
                cancel_pending(conn, site_id, visitor)
                if any(rule in rules for rule in WATCH_RULES):
                    keys = [str(p["key"]) for p in data.get("products") or () if _keyed(p)]
                    forget(conn, site_id, visitor, keys)
            return
        if not visitor:
            return  # nobody to follow (a server event without the visitor's cookie)
        if row.type == "StatusCart":
            end_episodes(conn, site_id, (Rule.ABANDONED_BROWSE,), visitor, "cart changed")
            cart = rules.get(Rule.ABANDONED_CART)
            if not data.get("products"):
                end_episodes(conn, site_id, (Rule.ABANDONED_CART,), visitor, "cart emptied")
            elif cart is not None:
                episode = cart_episode(row.cart_guid, seq)
                due = int(row.occurred_at) + cart.delay_ms
                open_episode(conn, site_id, Rule.ABANDONED_CART, visitor, episode, due, seq)
        elif row.type == "AddToWishlist":
            product = first_product(data)
            if Rule.WISHLIST in rules and product is not None:
                at = int(row.occurred_at)
                record_sighting(conn, site_id, {Rule.WISHLIST}, visitor, product, at, seq)
        elif row.type == "ProductPage":
            watching = _VIEW_RULES & set(rules)
            product = first_product(data)
            if watching and product is not None:
                at = int(row.occurred_at)
                record_sighting(conn, site_id, set(watching), visitor, product, at, seq)
            browse = rules.get(Rule.ABANDONED_BROWSE)
            if browse is not None:
                due = int(row.occurred_at) + browse.delay_ms
                open_episode(conn, site_id, Rule.ABANDONED_BROWSE, visitor, f"s:{seq}", due, seq)
        elif row.type == "SearchRequest":
            search = rules.get(Rule.SEARCH_NO_RESULTS)
            found = (data.get("search") or {}).get("found")
            if search is not None and found is False:
                due = int(row.occurred_at) + search.delay_ms
                rule = Rule.SEARCH_NO_RESULTS
                open_episode(conn, site_id, rule, visitor, f"s:{seq}", due, seq)


def _keyed(product: Any) -> bool:
    return isinstance(product, dict) and isinstance(product.get("key"), str)
