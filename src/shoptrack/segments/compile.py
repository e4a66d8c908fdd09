"""A definition as one SQL query over ``segment_facts``, the contacts and the live catalogue:
the people (contact ids, or ``~`` + visitor id) who match. The same query runs on SQLite and
PostgreSQL; nothing is loaded into Python but the answer.

``all`` is an INTERSECT, ``any`` a UNION, ``not`` the population EXCEPT the condition. The
population is everyone with a fact plus every live contact. A count condition that zero
satisfies (``= 0``, ``< 3``, ``!= 2``) is the population except those whose count fails it,
so "did not buy" includes people who never bought anything.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Connection,
    Select,
    String,
    and_,
    case,
    except_,
    func,
    intersect,
    literal,
    not_,
    or_,
    select,
    union,
    union_all,
)

from shoptrack.catalog.categories import CategoryIndex
from shoptrack.errors import Reason, ShoptrackError
from shoptrack.identity.crypto import Keyring
from shoptrack.identity.field_index import field_bidx, normalize_field_name, normalize_field_value
from shoptrack.segments.definition import (
    AbandonedCondition,
    AllOf,
    AnyOf,
    ContactCondition,
    Definition,
    EventCondition,
    LastOrderCondition,
    NotOf,
    OrdersCondition,
    PriceDropCondition,
    RegularDemandCondition,
    StockCondition,
)
from shoptrack.segments.facts import KIND_OF_EVENT
from shoptrack.store.tables import (
    catalog_product_categories,
    catalog_products,
    catalog_state,
    contact_field_index,
    contact_visitors,
    contacts,
    segment_facts,
)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
ANONYMOUS_PREFIX = "~"

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "=": operator.eq,
    "!=": operator.ne,
}


def admits_zero(op: str, value: float) -> bool:
    return bool(_OPS[op](0, value))


# A node as (the people it takes in, None) or (None, the people it leaves out of everyone).
Part = tuple[Select[Any] | None, Select[Any] | None]


@dataclass(frozen=True)
class Scope:
    """Whom to evaluate: the whole site, or only the people of these visitors and contacts
    (the incremental update after a batch of events)."""

    site_id: str
    now: int
    visitors: Sequence[str] | None = None
    contacts: Sequence[str] | None = None


class Compiler:
    def __init__(self, conn: Connection, scope: Scope, keyring: Keyring | None = None) -> None:
        self.conn = conn
        self.scope = scope
        self.keyring = keyring
        self.facts = self._person_facts()
        self.population = self._population()
        self._categories: CategoryIndex | None = None

    # --- the relations every condition reads ----------------------------------------------
    def _base_facts(self) -> Any:
        """The site's facts, or only those of the scope's visitors and contacts: two indexed
        reads joined by UNION ALL (an OR of the two would scan every fact)."""
        f = segment_facts.c
        if self.scope.visitors is None and self.scope.contacts is None:
            return select(segment_facts).where(f.site_id == self.scope.site_id).subquery("f")
        by_visitor = select(segment_facts).where(
            f.site_id == self.scope.site_id, f.visitor_id.in_(list(self.scope.visitors or ()))
        )
        by_contact = select(segment_facts).where(
            f.site_id == self.scope.site_id,
            f.visitor_id.is_(None),
            f.contact_id.in_(list(self.scope.contacts or ())),
        )
        return union_all(by_visitor, by_contact).subquery("f")

    def _person_facts(self) -> CTE:
        base = self._base_facts()
        f = base.c
        linked = contact_visitors.alias("cv")
        merged = contacts.alias("mc")
        person = func.coalesce(
            linked.c.contact_id,
            merged.c.merged_into,
            f.contact_id,
            literal(ANONYMOUS_PREFIX, String) + f.visitor_id,
        )
        stmt = select(
            person.label("person"),
            f.kind,
            f.at,
            f.seq,
            f.product_key,
            f.price,
            f.in_stock,
            f.amount,
            f.order_key,
            f.category_key,
        ).select_from(
            base.outerjoin(
                linked,
                and_(linked.c.site_id == self.scope.site_id, linked.c.visitor_id == f.visitor_id),
            ).outerjoin(
                merged,
                and_(merged.c.site_id == self.scope.site_id, merged.c.contact_id == f.contact_id),
            )
        )
        return stmt.cte("pf")

    def _population(self) -> CTE:
        c = contacts.c
        live = select(c.contact_id.label("person")).where(
            c.site_id == self.scope.site_id, c.merged_into.is_(None)
        )
        if self.scope.visitors is not None or self.scope.contacts is not None:
            live = live.where(c.contact_id.in_(list(self.scope.contacts or ())))
        return union(select(self.facts.c.person), live).cte("population")

    def _live_generation(self) -> Any:
        return (
            select(catalog_state.c.generation)
            .where(catalog_state.c.site_id == self.scope.site_id)
            .scalar_subquery()
        )

    def _live_products(self) -> Any:
        p = catalog_products.c
        return and_(p.site_id == self.scope.site_id, p.generation == self._live_generation())

    def _since(self, days: float | None) -> ColumnElement[bool] | None:
        if days is None:
            return None
        return and_(
            self.facts.c.at >= self.scope.now - int(days * DAY_MS),
            self.facts.c.at <= self.scope.now,
        )

    # --- the tree ---------------------------------------------------------------------------
    def members(self, definition: Definition) -> Select[Any]:
        return self._node(definition.match)

    def _node(self, node: Any) -> Select[Any]:
        if isinstance(node, AllOf):
            return self._all(node.all)
        if isinstance(node, AnyOf):
            return self._wrap(union(*(self._node(child) for child in node.any)))
        include, exclude = self._part(node)
        if include is not None:
            return include
        assert exclude is not None
        return self._everyone_but(exclude)

    def _part(self, node: Any) -> Part:
        """A node as the people it takes in, or as the people it leaves out of everyone (a
        ``not``, or a count that zero satisfies): ``all`` then subtracts the latter from its
        other members instead of from the whole population, which is much cheaper."""
        if isinstance(node, NotOf):
            return None, self._node(node.not_)
        if isinstance(node, AllOf | AnyOf):
            return self._node(node), None
        return self._leaf(node)

    def _all(self, children: Sequence[Any]) -> Select[Any]:
        parts = [self._part(child) for child in children]
        taken = [include for include, _ in parts if include is not None]
        left_out = [exclude for _, exclude in parts if exclude is not None]
        if not taken:
            base = select(self.population.c.person)
        elif len(taken) == 1:
            base = taken[0]
        else:
            base = self._wrap(intersect(*taken))
        return self._wrap(except_(base, *left_out)) if left_out else base

    @staticmethod
    def _wrap(compound: Any) -> Select[Any]:
        # SQLite refuses a compound SELECT as a member of another one: each is a subquery.
        inner = compound.subquery()
        return select(inner.c.person)

    def _everyone_but(self, excluded: Select[Any]) -> Select[Any]:
        return self._wrap(except_(select(self.population.c.person), excluded))

    def _leaf(self, node: Any) -> Part:
        if isinstance(node, EventCondition):
            return self._event(node)
        if isinstance(node, OrdersCondition):
            return self._orders(node)
        if isinstance(node, LastOrderCondition):
            return self._last_order(node), None
        if isinstance(node, ContactCondition):
            return self._contact(node), None
        if isinstance(node, AbandonedCondition):
            return self._abandoned(node), None
        if isinstance(node, StockCondition):
            return self._back_in_stock(node), None
        if isinstance(node, PriceDropCondition):
            return self._price_drop(node), None
        if isinstance(node, RegularDemandCondition):
            return self._regular_demand(node), None
        raise TypeError(f"no SQL for {type(node).__name__}")

    # --- leaves -----------------------------------------------------------------------------
    def _counted(self, where: list[Any], measure: Any, op: str, value: float) -> Part:
        """People whose ``measure`` over the facts ``where`` holds ``op value``; people with
        no such fact count zero, so a test zero passes is "everyone but those who fail"."""
        pf = self.facts.c
        grouped = select(pf.person).where(*where).group_by(pf.person)
        test = _OPS[op](measure, value)
        if admits_zero(op, value):
            return None, grouped.having(not_(test))
        return grouped.having(test), None

    def _event(self, node: EventCondition) -> Part:
        pf = self.facts.c
        where: list[Any] = [pf.kind == KIND_OF_EVENT[node.event]]
        since = self._since(node.within_days)
        if since is not None:
            where.append(since)
        if node.product is not None:
            where.append(pf.product_key == node.product)
        if node.price is not None:
            if node.price.min is not None:
                where.append(pf.price >= node.price.min)
            if node.price.max is not None:
                where.append(pf.price <= node.price.max)
        if node.brand is not None:
            p = catalog_products.c
            where.append(
                pf.product_key.in_(
                    select(p.product_key).where(
                        self._live_products(), func.lower(p.brand) == node.brand.lower()
                    )
                )
            )
        if node.category is not None:
            where.append(self._in_category(node.category, node.event == "viewed_category"))
        measure = (
            func.count(pf.order_key.distinct())
            if node.event == "purchased"
            else func.count(pf.seq.distinct())
        )
        return self._counted(where, measure, node.count.op, node.count.value)

    def _in_category(self, category: str, category_page: bool) -> Any:
        if self._categories is None:
            self._categories = CategoryIndex.load(self.conn, self.scope.site_id)
        ids = self._categories.match(category)
        pf = self.facts.c
        if category_page:
            names = {category.strip().casefold()}
            for cid in ids:
                found = self._categories.by_id[cid]
                names.update({str(cid), found.path.casefold(), found.name.casefold()})
            return func.lower(pf.category_key).in_(sorted(names))
        pc = catalog_product_categories.c
        return pf.product_key.in_(
            select(pc.product_key).where(
                pc.site_id == self.scope.site_id,
                pc.generation == self._live_generation(),
                pc.category_id.in_(sorted(ids) or [-1]),
            )
        )

    def _orders(self, node: OrdersCondition) -> Part:
        pf = self.facts.c
        where: list[Any] = [pf.kind == "purchased"]
        since = self._since(node.within_days)
        if since is not None:
            where.append(since)
        orders = func.count(pf.order_key.distinct())
        revenue = func.coalesce(func.sum(pf.amount), 0.0)
        if node.metric == "count":
            return self._counted(where, orders, node.op, node.value)
        if node.metric == "revenue":
            return self._counted(where, revenue, node.op, node.value)
        # An average needs an order: people without one never match an AOV condition.
        aov = revenue / func.nullif(orders, 0)
        grouped = select(pf.person).where(*where).group_by(pf.person)
        return grouped.having(_OPS[node.op](aov, node.value)), None

    def _last_order(self, node: LastOrderCondition) -> Select[Any]:
        pf = self.facts.c
        last = func.max(pf.at)
        grouped = select(pf.person).where(pf.kind == "purchased").group_by(pf.person)
        if node.more_than_days_ago is not None:
            return grouped.having(last < self.scope.now - int(node.more_than_days_ago * DAY_MS))
        assert node.within_days is not None
        return grouped.having(last >= self.scope.now - int(node.within_days * DAY_MS))

    def _contact(self, node: ContactCondition) -> Select[Any]:
        people = self.population.c.person
        if node.field is not None:
            return select(people).where(people.in_(self._field_holders(node)))
        if node.is_ == "identified":
            return select(people).where(not_(people.startswith(ANONYMOUS_PREFIX)))
        if node.is_ == "anonymous":
            return select(people).where(people.startswith(ANONYMOUS_PREFIX))
        c = contacts.c
        column = c.email_bidx if node.is_ == "has_email" else c.phone_bidx
        return select(people).where(
            people.in_(
                select(c.contact_id).where(
                    c.site_id == self.scope.site_id, c.merged_into.is_(None), column.is_not(None)
                )
            )
        )

    def _field_holders(self, node: ContactCondition) -> Select[Any]:
        """The live contacts whose field passes the test, by the field's blind index: the
        condition's values are hashed here as the contacts' were (``identity/field_index``)."""
        field = normalize_field_name(node.field or "")
        assert field is not None  # parse_definition refused the others
        i = contact_field_index.c
        c = contacts.c
        holders = select(i.contact_id).where(i.site_id == self.scope.site_id, i.field == field)
        if node.is_set is not None:
            if node.is_set:
                return holders
            return select(c.contact_id).where(
                c.site_id == self.scope.site_id,
                c.merged_into.is_(None),
                c.contact_id.not_in(holders),
            )
        if self.keyring is None:
            raise ShoptrackError(
                Reason.KEY_MISSING,
                "a condition on a contact field's value needs the keyring",
                "definition",
            )
        wanted = [node.equals] if node.in_ is None else list(node.in_)
        values = {v for v in (normalize_field_value(w) for w in wanted) if v is not None}
        indexes = sorted(field_bidx(self.keyring, self.scope.site_id, field, v) for v in values)
        return holders.where(i.value_bidx.in_(indexes or ["-"]))

    def _abandoned(self, node: AbandonedCondition) -> Select[Any]:
        """The person's last cart (view) is old enough and recent enough, and nothing came at
        or after it: no order (for a browse: no cart either); a cart must have held products.
        One pass over the facts, by person, with conditional maxima."""
        pf = self.facts.c

        def last(*kinds: str, holding: bool = False) -> Any:
            when: ColumnElement[bool] = pf.kind.in_(kinds)
            if holding:
                when = and_(when, pf.product_key.is_not(None))
            return func.max(case((when, pf.at)))

        if node.condition == "abandoned_cart":
            started, held, ended = last("carted"), last("carted", holding=True), last("purchased")
        else:
            started = held = last("viewed")
            ended = last("purchased", "carted")
        return (
            select(pf.person)
            .where(pf.kind.in_(("carted", "purchased", "viewed")))
            .group_by(pf.person)
            .having(
                started <= self.scope.now - int(node.after_hours * HOUR_MS),
                started >= self.scope.now - int(node.within_days * DAY_MS),
                held == started,
                or_(ended.is_(None), ended < started),
            )
        )

    def _seen_products(self, kind: str, days: float) -> list[Any]:
        pf = self.facts.c
        since = self._since(days)
        return [pf.kind == kind, since]

    def _back_in_stock(self, node: StockCondition) -> Select[Any]:
        pf = self.facts.c
        p = catalog_products.c
        kind = "viewed" if node.condition == "viewed_in_stock" else "wishlisted"
        in_stock_now = select(p.product_key).where(self._live_products(), p.in_stock.is_(True))
        return (
            select(pf.person)
            .where(
                *self._seen_products(kind, node.within_days),
                pf.in_stock.is_(False),
                pf.product_key.in_(in_stock_now),
            )
            .group_by(pf.person)
        )

    def _price_drop(self, node: PriceDropCondition) -> Select[Any]:
        pf = self.facts.c
        p = catalog_products.c
        factor = 1 - node.min_percent / 100
        cheaper = (
            select(p.product_key)
            .where(
                self._live_products(),
                p.product_key == pf.product_key,
                p.price.is_not(None),
                p.price <= pf.price * factor,
            )
            .exists()
        )
        return (
            select(pf.person)
            .where(*self._seen_products("viewed", node.within_days), pf.price.is_not(None), cheaper)
            .group_by(pf.person)
        )

    def _regular_demand(self, node: RegularDemandCondition) -> Select[Any]:
        pf = self.facts.c
        orders = func.count(pf.order_key.distinct())
        first, last = func.min(pf.at), func.max(pf.at)
        per_product = (
            select(pf.person)
            .where(pf.kind == "purchased", pf.product_key.is_not(None))
            .group_by(pf.person, pf.product_key)
            .having(
                orders >= node.min_orders,
                (self.scope.now - last) * (orders - 1) >= (last - first),
            )
        )
        return self._wrap(union(per_product))


def evaluate(
    conn: Connection, definition: Definition, scope: Scope, keyring: Keyring | None = None
) -> set[str]:
    """The people who match, now (``scope.now``). Conditions on the value of a contact field
    need the ``keyring`` (its index key hashes the values looked for)."""
    compiler = Compiler(conn, scope, keyring)
    query = compiler.members(definition)
    return {str(person) for person in conn.execute(query).scalars() if person is not None}
