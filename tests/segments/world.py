"""A small shop's store for the segment tests: events, contacts, links, a live catalogue."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from sqlalchemy import Engine, insert, select

from shoptrack.segments.compile import Scope, evaluate
from shoptrack.segments.definition import parse_definition
from shoptrack.segments.facts import write_facts
from shoptrack.store.sites_repo import SiteRepository
from shoptrack.store.tables import (
    catalog_categories,
    catalog_product_categories,
    catalog_products,
    catalog_state,
    contact_visitors,
    contacts,
    events,
)

DAY = 86_400_000
HOUR = 3_600_000
NOW = 1_780_000_000_000
_ids = itertools.count(1)


class World:
    def __init__(self, engine: Engine, site_id: str = "shop") -> None:
        self.engine = engine
        self.site_id = site_id
        SiteRepository(engine).create("Shop", site_id)
        self.read_upto = 0

    def event(
        self,
        kind: str,
        visitor: str | None,
        at: int,
        *,
        contact: str | None = None,
        products: list[dict[str, Any]] | None = None,
        **data: Any,
    ) -> None:
        body = {"type": kind, "source": "browser", "products": products or [], **data}
        with self.engine.begin() as conn:
            conn.execute(
                insert(events).values(
                    site_id=self.site_id,
                    event_id=f"e{next(_ids)}",
                    type=kind,
                    occurred_at=at,
                    received_at=at,
                    visitor_id=visitor,
                    contact_id=contact,
                    source="browser",
                    data=orjson.dumps(body).decode(),
                )
            )

    def view(
        self, visitor: str, product: str, at: int, price: float = 10.0, in_stock: bool = True
    ) -> None:
        self.event(
            "ProductPage",
            visitor,
            at,
            products=[{"key": product, "price": price, "in_stock": in_stock}],
        )

    def cart(self, visitor: str, at: int, *products: str) -> None:
        self.event(
            "StatusCart",
            visitor,
            at,
            products=[{"key": p, "price": 10.0, "quantity": 1} for p in products],
        )

    def buy(self, visitor: str, at: int, order: str, *lines: tuple[str, float, int]) -> None:
        self.event(
            "PurchasedItems",
            visitor,
            at,
            order_number=order,
            products=[{"key": k, "price": p, "quantity": q} for k, p, q in lines],
        )

    def contact(
        self, contact_id: str, *visitors: str, email: bool = False, phone: bool = False
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(contacts).values(
                    site_id=self.site_id,
                    contact_id=contact_id,
                    created_at=NOW,
                    updated_at=NOW,
                    source="api",
                    email_bidx=f"e-{contact_id}" if email else None,
                    phone_bidx=f"p-{contact_id}" if phone else None,
                )
            )
            for visitor in visitors:
                self.link(visitor, contact_id, conn)

    def link(self, visitor: str, contact_id: str, conn: Any = None) -> None:
        values = {
            "site_id": self.site_id,
            "visitor_id": visitor,
            "contact_id": contact_id,
            "linked_at": NOW,
        }
        if conn is not None:
            conn.execute(insert(contact_visitors).values(**values))
            return
        with self.engine.begin() as own:
            own.execute(insert(contact_visitors).values(**values))

    def catalogue(
        self,
        *products: dict[str, Any],
        categories: tuple[tuple[int, int | None, str, str], ...] | list[Any] = (),
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(catalog_state).values(site_id=self.site_id, generation=1, next_generation=2)
            )
            for cid, parent, name, path in categories:
                conn.execute(
                    insert(catalog_categories).values(
                        site_id=self.site_id,
                        category_id=cid,
                        parent_id=parent,
                        name=name,
                        path=path,
                        depth=path.count(">"),
                    )
                )
            for product in products:
                cats = product.pop("category_ids", [])
                conn.execute(
                    insert(catalog_products).values(
                        site_id=self.site_id,
                        generation=1,
                        price_source="feed",
                        price_at=NOW,
                        stock_source="feed",
                        stock_at=NOW,
                        details_source="feed",
                        details_at=NOW,
                        updated_at=NOW,
                        **product,
                    )
                )
                for cid in cats:
                    conn.execute(
                        insert(catalog_product_categories).values(
                            site_id=self.site_id,
                            generation=1,
                            category_id=cid,
                            product_key=product["product_key"],
                        )
                    )

    def facts(self) -> None:
        """Run the facts half of the processor over the events not read yet."""
        with self.engine.begin() as conn:
            upto = int(
                conn.execute(select(events.c.seq).order_by(events.c.seq.desc()).limit(1)).scalar()
                or 0
            )
            write_facts(conn, self.read_upto, upto)
        self.read_upto = upto

    def members(self, definition: dict[str, Any], now: int = NOW) -> set[str]:
        self.facts()
        with self.engine.connect() as conn:
            return evaluate(conn, parse_definition(definition), Scope(self.site_id, now))


def event(event: str, **more: Any) -> dict[str, Any]:
    return {"match": {"condition": "event", "event": event, **more}}
