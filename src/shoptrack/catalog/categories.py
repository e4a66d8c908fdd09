"""The category tree: matching a ``categoryKey`` to categories, and the tree the API shows.

A ``categoryKey`` matches a category when it equals, ignoring case, the category's id, its
full path (``Shoes > Sneakers``) or the name of its level (``Sneakers``); a match includes the
categories below it. A Google category given by number (``2271``) is a category whose path is
that number, so a ``categoryKey`` that is a category id matches it too.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from shoptrack.store.tables import catalog_categories, catalog_product_categories


@dataclass(frozen=True, slots=True)
class Category:
    category_id: int
    parent_id: int | None
    name: str
    path: str
    depth: int


class CategoryIndex:
    def __init__(self, categories: list[Category]) -> None:
        self.by_id = {c.category_id: c for c in categories}
        self.children: dict[int | None, list[int]] = defaultdict(list)
        self._by_text: dict[str, set[int]] = defaultdict(set)
        for c in categories:
            self.children[c.parent_id].append(c.category_id)
            self._by_text[c.path.casefold()].add(c.category_id)
            self._by_text[c.name.casefold()].add(c.category_id)
            self._by_text[str(c.category_id)].add(c.category_id)

    @classmethod
    def load(cls, conn: Connection, site_id: str) -> CategoryIndex:
        rows = conn.execute(
            select(catalog_categories).where(catalog_categories.c.site_id == site_id)
        )
        return cls([Category(r.category_id, r.parent_id, r.name, r.path, r.depth) for r in rows])

    def match(self, key: str) -> set[int]:
        """The categories a ``categoryKey`` names, with every category below them."""
        found = set(self._by_text.get(key.strip().casefold(), ()))
        stack = list(found)
        while stack:
            for child in self.children.get(stack.pop(), ()):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found

    def with_ancestors(self, ids: set[int]) -> set[int]:
        out: set[int] = set()
        for cid in ids:
            current: int | None = cid
            while current is not None and current not in out and current in self.by_id:
                out.add(current)
                current = self.by_id[current].parent_id
        return out

    def tree(self, counts: dict[int, int]) -> list[dict[str, Any]]:
        """The categories the given product counts use, nested, with subtree totals."""
        used = self.with_ancestors({cid for cid, n in counts.items() if n})

        def node(cid: int) -> dict[str, Any]:
            c = self.by_id[cid]
            kids = sorted(
                (node(k) for k in self.children.get(cid, ()) if k in used),
                key=lambda n: str(n["name"]).casefold(),
            )
            direct = counts.get(cid, 0)
            return {
                "id": c.category_id,
                "name": c.name,
                "path": c.path,
                "depth": c.depth,
                "products": direct,
                "total": direct + sum(int(k["total"]) for k in kids),
                "children": kids,
            }

        roots = [cid for cid in used if self.by_id[cid].parent_id not in used]
        return sorted((node(r) for r in roots), key=lambda n: str(n["name"]).casefold())


def link_counts(conn: Connection, site_id: str, generation: int) -> dict[int, int]:
    links = catalog_product_categories
    rows = conn.execute(
        select(links.c.category_id, func.count())
        .where(links.c.site_id == site_id, links.c.generation == generation)
        .group_by(links.c.category_id)
    )
    return {int(cid): int(n) for cid, n in rows}
