"""The catalogue watcher: a price or stock change wakes the episodes of those who watch it.

``wishlist``, ``price_drop`` and ``back_in_stock`` start from a change of the live catalogue
(a feed import, a ``ProductUpdate``, browser reports that reached the quorum), not from an
event of the contact. Each round of the worker's due queue, before the decider, the watcher
looks, per site with one of these rules on, at:

* the products the catalogue event processor wrote since the site's mark (``updated_at`` of
  the live generation's rows with ``event_at`` set: a small partial index), read again from
  ``OVERLAP_MS`` before the mark, so a catalogue transaction that took its time stamp before
  the mark and committed after it is still seen (re-reading is harmless: see below);
* every watched product when the live generation changed (an import switched: its history
  rows are written while it stages, before it is live, so the switch is what counts);
* the watches written since the last look (``seq`` after the mark's ``watch_seq``): a view the
  ``triggers`` processor recorded after the change it should see.

For those, one SQL statement per rule joins the watches with the live products and returns
only the watches whose condition changed since the last look (``qualified``): newly cheaper
by at least ``min_drop_percent`` than what the visitor saw, or in stock when it was seen out
of stock. Those that now qualify wake the visitor's episode of the rule (``trigger_candidates``,
due now); those that no longer do are marked so that a later drop wakes them again. So a
re-read, a second worker or a replay wakes nothing twice, and the decider, which decides from
the event log and the price history (``catalog_rules.py``), sees each change once.
Expired watches (older than the rule's ``window_days``) are deleted on the way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    literal,
    or_,
    select,
    true,
    update,
)

from shoptrack.catalog.store_ops import read_state
from shoptrack.store.db import WriteTurn
from shoptrack.store.sql import chunks, insert_for, now_ms
from shoptrack.store.tables import (
    catalog_products,
    trigger_catalog_marks,
    trigger_rules,
    trigger_watches,
)
from shoptrack.triggers.decide import Clock, lock_site_triggers
from shoptrack.triggers.model import Rule
from shoptrack.triggers.rules import RuleSettings, read_rules
from shoptrack.triggers.schedule import open_episodes
from shoptrack.triggers.watch_store import WATCH_RULES

DAY_MS = 86_400_000
# How far before its mark the watcher reads changed products again: longer than a catalogue
# batch's transaction takes between its time stamp and its commit.
OVERLAP_MS = 120_000


@dataclass
class WatchCounts:
    sites: int = 0
    woken: int = 0  # episodes woken (visitor and rule)
    cleared: int = 0  # watches that stopped qualifying
    expired: int = 0


def qualifies(rule: Rule, settings: RuleSettings) -> Any:
    """SQL: the live product (``catalog_products``) meets ``rule`` for the watch, now."""
    w, p = trigger_watches.c, catalog_products.c
    back = (p.in_stock == true()) & (w.seen_in_stock == false())
    if rule is Rule.BACK_IN_STOCK:
        return back
    factor = 1 - settings.threshold("min_drop_percent") / 100
    same_currency = or_(
        w.seen_currency.is_(None), p.currency.is_(None), w.seen_currency == p.currency
    )
    cheaper = and_(
        p.price.is_not(None),
        w.seen_price.is_not(None),
        p.price <= w.seen_price * literal(factor),
        same_currency,
    )
    return or_(cheaper, back) if rule is Rule.WISHLIST else cheaper


@dataclass(frozen=True, slots=True)
class Look:
    """What changed for one site since the watcher's mark."""

    generation: int
    mark: Any  # the site's trigger_catalog_marks row, or None before the first look
    watch_seq: int  # the newest watch now
    changed: list[str] | None  # products written since the mark; None: look at every watch

    @property
    def full(self) -> bool:
        return self.changed is None

    def idle(self, written: int) -> bool:
        """Nothing to look at, and the mark recent enough to be left as it is (no write)."""
        return (
            self.changed is not None
            and not self.changed
            and written - int(self.mark.mark) < OVERLAP_MS // 2
        )


def look(conn: Connection, site_id: str) -> Look:
    generation = read_state(conn, site_id).generation
    m, w = trigger_catalog_marks.c, trigger_watches.c
    mark = conn.execute(select(trigger_catalog_marks).where(m.site_id == site_id)).first()
    watch_seq = int(conn.execute(select(func.max(w.seq)).where(w.site_id == site_id)).scalar() or 0)
    if mark is None or int(mark.generation) != generation:
        return Look(generation, mark, watch_seq, None)
    p = catalog_products.c
    changed = set(
        conn.execute(
            select(p.product_key).where(
                p.site_id == site_id,
                p.generation == generation,
                p.event_at.is_not(None),
                p.updated_at > int(mark.mark) - OVERLAP_MS,
            )
        ).scalars()
    )
    # The products of the watches written since (by ``(site_id, seq)``): looked at like
    # changed ones, so a view recorded after the change it should see is not missed.
    changed.update(
        conn.execute(
            select(w.product_key).where(w.site_id == site_id, w.seq > int(mark.watch_seq))
        ).scalars()
    )
    return Look(generation, mark, watch_seq, sorted(str(k) for k in changed))


class CatalogWatcher:
    def __init__(self, engine: Engine, *, clock: Clock = now_ms) -> None:
        self.engine = engine
        self.clock = clock  # the engine's clock: windows and due times
        self._turn = WriteTurn(engine)

    def run(self) -> WatchCounts:
        """One look at every site with a catalogue rule on; a site where nothing changed costs
        a few indexed reads and no write."""
        counts = WatchCounts()
        r = trigger_rules.c
        stmt = select(r.site_id).where(
            r.rule.in_([rule.value for rule in WATCH_RULES]), r.enabled.is_(True)
        )
        with self.engine.connect() as conn:
            site_ids = sorted({str(s) for s in conn.execute(stmt.distinct()).scalars()})
        for site_id in site_ids:
            with self.engine.connect() as conn:
                first = look(conn, site_id)
            if first.idle(now_ms()):
                continue
            with self._turn(), self.engine.begin() as conn:
                lock_site_triggers(conn, site_id)
                self._site(conn, site_id, counts)
            counts.sites += 1
        return counts

    def _site(self, conn: Connection, site_id: str, counts: WatchCounts) -> None:
        now = self.clock()
        written = now_ms()  # catalogue rows carry the real write time, whatever the clock
        every = read_rules(conn, site_id)
        rules = {rule: every[rule] for rule in WATCH_RULES if every[rule].enabled}
        seen = look(conn, site_id)  # again, under the lock
        w = trigger_watches.c
        for rule in WATCH_RULES:  # a rule turned off keeps no watches past its window either
            settings = every[rule]
            window = int(settings.threshold("window_days")) * DAY_MS
            counts.expired += conn.execute(
                delete(trigger_watches).where(
                    w.site_id == site_id, w.rule == rule.value, w.seen_at < now - window
                )
            ).rowcount
        if seen.changed is None:
            scopes: list[Any] = [None]  # every watch of the site
        else:
            scopes = [w.product_key.in_(part) for part in chunks(seen.changed)]
        for rule, settings in rules.items():
            for scope in scopes:
                self._transitions(
                    conn, site_id, seen.generation, rule, settings, scope, now, counts
                )
        values = {"generation": seen.generation, "mark": written, "watch_seq": seen.watch_seq}
        stmt = insert_for(conn, trigger_catalog_marks).values(
            site_id=site_id, updated_at=written, **values
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["site_id"], set_={**values, "updated_at": written}
            )
        )

    def _transitions(
        self,
        conn: Connection,
        site_id: str,
        generation: int,
        rule: Rule,
        settings: RuleSettings,
        scope: Any,
        now: int,
        counts: WatchCounts,
    ) -> None:
        """The watches in ``scope`` whose condition changed: wake the risen, clear the fallen."""
        w, p = trigger_watches.c, catalog_products.c
        holds = case((qualifies(rule, settings), true()), else_=false())
        stmt = (
            select(w.visitor_id, w.product_key, holds.label("holds"))
            .select_from(
                trigger_watches.join(
                    catalog_products,
                    (p.site_id == w.site_id)
                    & (p.generation == generation)
                    & (p.product_key == w.product_key),
                )
            )
            .where(w.site_id == site_id, w.rule == rule.value, holds != w.qualified)
        )
        if scope is not None:
            stmt = stmt.where(scope)
        changed = conn.execute(stmt).all()
        if not changed:
            return
        mark = (
            update(trigger_watches)
            .where(
                w.site_id == site_id,
                w.rule == rule.value,
                w.visitor_id == bindparam("b_visitor"),
                w.product_key == bindparam("b_key"),
            )
            .values(qualified=bindparam("b_holds"))
        )
        conn.execute(
            mark,
            [
                {"b_visitor": r.visitor_id, "b_key": r.product_key, "b_holds": bool(r.holds)}
                for r in changed
            ],
        )
        risen = sorted({str(r.visitor_id) for r in changed if r.holds})
        counts.cleared += sum(1 for r in changed if not r.holds)
        wake = now_ms()  # the episode's version: the decider re-reads one woken meanwhile
        open_episodes(conn, site_id, rule, risen, f"w:{wake}", now, wake)
        counts.woken += len(risen)
