"""Recommendation blocks, their weighted A/B variants and the history of every change.

A block is where recommendations appear (a page type, a CSS selector and an HTML template for
on-site rendering, or an e-mail), how many products it shows and with which filters. It has 1–8
variants, each an algorithm with parameters and a weight. Identifiers follow the platform:

* variant id ``r{block_id}v{variant_id}`` (both small integers, unique per site);
* ``container_type`` / ``sc_content`` ``{placement_id}_r{block_id}v{variant_id}``, the
  placement id being the block's own number unless one is set.

A visitor sees one variant of a block: :func:`choose_variant` hashes the visitor id with the
block id into ``[0, 1)`` and walks the cumulative weights, so the choice is stable for a visitor
and splits traffic by weight. Every change bumps the block's ``version`` and writes one
``rec_block_changes`` row in the same transaction (reports show the history).

Deleting a block marks its row ``deleted`` instead of removing it: block and variant numbers
are the maxima over every row, so a deleted block's numbers (which its reports and old
``sc_content`` links name) are never given to a new block. Reads skip deleted rows.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, insert, select, update

from shoptrack.errors import NotFound
from shoptrack.events.model import iso_ms
from shoptrack.recommend.block_rules import (
    ALGORITHMS,
    BLOCK_ALGORITHMS,
    DELETED,
    FILTER_KEYS,
    MAX_COUNT,
    MAX_VARIANTS,
    PAGE_TYPES,
    POSITIONS,
    SESSION_ALGORITHMS,
    STATUSES,
    check_block_fields,
    check_filters,
    check_variant,
    invalid,
)
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import rec_block_changes, rec_blocks, rec_variants

__all__ = [
    "ALGORITHMS", "BLOCK_ALGORITHMS", "FILTER_KEYS", "MAX_COUNT", "PAGE_TYPES", "POSITIONS",
    "SESSION_ALGORITHMS", "Block", "BlockStore", "Variant", "check_filters", "choose_variant",
    "parse_variant_id",
]  # fmt: skip

_VARIANT_ID = re.compile(r"^r(\d{1,9})v(\d{1,9})$")


def parse_variant_id(text: str) -> tuple[int, int] | None:
    """``r12v34`` → (12, 34); None for anything else."""
    match = _VARIANT_ID.match(text.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def visitor_point(visitor_id: str, block_id: int) -> float:
    """A number in [0, 1) fixed by (visitor, block): the visitor's place in the traffic split."""
    digest = hashlib.sha256(f"{visitor_id}\x1f{block_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass(frozen=True, slots=True)
class Variant:
    variant_id: int
    block_id: int
    algorithm: str
    params: dict[str, Any]
    weight: float

    @property
    def ident(self) -> str:
        return f"r{self.block_id}v{self.variant_id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "variant_id": self.ident,
            "algorithm": self.algorithm,
            "params": self.params,
            "weight": self.weight,
        }


@dataclass(frozen=True, slots=True)
class Block:
    site_id: str
    block_id: int
    name: str
    page_type: str
    product_count: int
    filters: dict[str, Any]
    selector: str | None
    position: str
    template: str | None
    title: str | None
    status: str
    placement_id: int | None
    preview_token: str
    version: int
    created_at: int
    updated_at: int
    variants: tuple[Variant, ...] = field(default=())

    @property
    def placement(self) -> int:
        return self.placement_id if self.placement_id is not None else self.block_id

    def container_type(self, variant: Variant) -> str:
        return f"{self.placement}_{variant.ident}"

    def variant(self, variant_id: int) -> Variant | None:
        return next((v for v in self.variants if v.variant_id == variant_id), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "block_id": self.block_id,
            "name": self.name,
            "page_type": self.page_type,
            "count": self.product_count,
            "filters": self.filters,
            "selector": self.selector,
            "position": self.position,
            "template": self.template,
            "title": self.title,
            "status": self.status,
            "placement_id": self.placement,
            "preview_token": self.preview_token,
            "version": self.version,
            "created_at": iso_ms(self.created_at),
            "updated_at": iso_ms(self.updated_at),
            "variants": [
                {**v.to_json(), "container_type": self.container_type(v)} for v in self.variants
            ],
        }


def choose_variant(block: Block, visitor_id: str | None) -> Variant:
    """The visitor's variant: by weight, the same one on every call for the same visitor."""
    variants = [v for v in block.variants if v.weight > 0] or list(block.variants)
    total = sum(v.weight for v in variants)
    if total <= 0:
        return variants[0]
    target = visitor_point(visitor_id or "", block.block_id) * total
    running = 0.0
    for variant in variants:
        running += variant.weight
        if target < running:
            return variant
    return variants[-1]


# --- storage ------------------------------------------------------------------------------


def _block(row: Any, variants: Sequence[Variant]) -> Block:
    return Block(
        site_id=row.site_id,
        block_id=int(row.block_id),
        name=row.name,
        page_type=row.page_type,
        product_count=int(row.product_count),
        filters=orjson.loads(row.filters or "{}"),
        selector=row.selector,
        position=row.position,
        template=row.template,
        title=row.title,
        status=row.status,
        placement_id=None if row.placement_id is None else int(row.placement_id),
        preview_token=row.preview_token,
        version=int(row.version),
        created_at=int(row.created_at),
        updated_at=int(row.updated_at),
        variants=tuple(variants),
    )


def _details_json(details: Any) -> Any:
    """A change's details as the API shows them: a creation records the block's row, whose
    times are stored as epoch milliseconds like every time in the store."""
    fields = details.get("fields") if isinstance(details, dict) else None
    if isinstance(fields, dict):
        for name in ("created_at", "updated_at"):
            if isinstance(fields.get(name), int):
                fields[name] = iso_ms(fields[name])
    return details


def _variant(row: Any) -> Variant:
    return Variant(
        int(row.variant_id),
        int(row.block_id),
        row.algorithm,
        orjson.loads(row.params or "{}"),
        float(row.weight),
    )


class BlockStore:
    """Blocks and variants of every site; each write is one transaction with its history row."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def list_blocks(self, site_id: str) -> list[Block]:
        with self.engine.connect() as conn:
            return self._load(conn, site_id)

    def get(self, site_id: str, block_id: int) -> Block:
        with self.engine.connect() as conn:
            found = self._load(conn, site_id, block_id)
        if not found:
            raise NotFound(f"block {block_id} was not found", "block_id")
        return found[0]

    def stamp(self, site_id: str) -> tuple[int, int]:
        """(number of blocks, sum of versions): changes whenever any block changes.

        Deleted rows count too: a deletion bumps its block's version like any other change.
        """
        with self.engine.connect() as conn:
            row = conn.execute(
                select(func.count(), func.coalesce(func.sum(rec_blocks.c.version), 0)).where(
                    rec_blocks.c.site_id == site_id
                )
            ).one()
        return int(row[0]), int(row[1])

    def create(
        self,
        site_id: str,
        fields: Mapping[str, Any],
        variants: Sequence[Mapping[str, Any]],
        *,
        status: str = "preview",
        actor: str = "api",
    ) -> Block:
        values = check_block_fields(fields)
        if "page_type" not in values:
            raise invalid("page_type is required", "page_type")
        if not 1 <= len(variants) <= MAX_VARIANTS:
            raise invalid(f"a block has 1..{MAX_VARIANTS} variants", "variants")
        if status not in STATUSES:
            raise invalid(f"status must be one of {', '.join(STATUSES)}", "status")
        for v in variants:
            check_variant(str(v.get("algorithm")), v.get("params", {}), float(v.get("weight", 1)))
        now = now_ms()
        with self.engine.begin() as conn:
            block_id = self._next_id(conn, rec_blocks.c.block_id, site_id)
            row = {
                "site_id": site_id,
                "block_id": block_id,
                "name": values.pop("name", None) or f"Block {block_id}",
                "product_count": values.pop("product_count", 10),
                "position": values.pop("position", "beforeend"),
                "filters": values.pop("filters", "{}"),
                "status": status,
                "preview_token": secrets.token_urlsafe(12),
                "version": 1,
                "created_at": now,
                "updated_at": now,
                **values,
            }
            conn.execute(insert(rec_blocks).values(**row))
            for v in variants:
                self._insert_variant(conn, site_id, block_id, v, now)
            self._record(conn, site_id, block_id, 1, now, actor, "create", {
                "fields": {k: row[k] for k in row if k not in ("site_id", "preview_token")},
                "variants": [dict(v) for v in variants],
            })  # fmt: skip
            return self._load(conn, site_id, block_id)[0]

    def update(
        self, site_id: str, block_id: int, fields: Mapping[str, Any], *, actor: str = "api"
    ) -> Block:
        values = check_block_fields(fields)
        if not values:
            return self.get(site_id, block_id)
        return self._change(site_id, block_id, actor, "update", values, dict(fields))

    def set_status(self, site_id: str, block_id: int, status: str, *, actor: str = "api") -> Block:
        if status not in STATUSES:
            raise invalid(f"status must be one of {', '.join(STATUSES)}", "status")
        return self._change(
            site_id, block_id, actor, "status", {"status": status}, {"status": status}
        )

    def delete(self, site_id: str, block_id: int, *, actor: str = "api") -> None:
        """Take a block out of every list and of serving; its history row says who did it."""
        with self.engine.begin() as conn:
            block = self._locked(conn, site_id, block_id)
            conn.execute(
                update(rec_blocks)
                .where(rec_blocks.c.site_id == site_id, rec_blocks.c.block_id == block_id)
                .values(status=DELETED)
            )
            self._bump(conn, block, now_ms(), actor, "delete", {"status": DELETED})

    def add_variant(
        self,
        site_id: str,
        block_id: int,
        algorithm: str,
        params: Mapping[str, Any] | None = None,
        weight: float = 1.0,
        *,
        actor: str = "api",
    ) -> Block:
        check_variant(algorithm, {} if params is None else params, weight)
        spec = {"algorithm": algorithm, "params": dict(params or {}), "weight": weight}
        with self.engine.begin() as conn:
            block = self._locked(conn, site_id, block_id)
            if len(block.variants) >= MAX_VARIANTS:
                raise invalid(f"a block has at most {MAX_VARIANTS} variants", "variants")
            now = now_ms()
            variant_id = self._insert_variant(conn, site_id, block_id, spec, now)
            self._bump(conn, block, now, actor, "add_variant", {"variant_id": variant_id, **spec})
            return self._load(conn, site_id, block_id)[0]

    def update_variant(
        self,
        site_id: str,
        block_id: int,
        variant_id: int,
        *,
        weight: float | None = None,
        params: Mapping[str, Any] | None = None,
        actor: str = "api",
    ) -> Block:
        with self.engine.begin() as conn:
            block = self._locked(conn, site_id, block_id)
            current = block.variant(variant_id)
            if current is None:
                raise NotFound(f"variant {variant_id} of block {block_id} was not found")
            new_weight = current.weight if weight is None else float(weight)
            check_variant(
                current.algorithm, current.params if params is None else params, new_weight
            )
            new_params = current.params if params is None else dict(params)
            conn.execute(
                update(rec_variants)
                .where(rec_variants.c.site_id == site_id, rec_variants.c.variant_id == variant_id)
                .values(weight=new_weight, params=orjson.dumps(new_params).decode())
            )
            details = {"variant_id": variant_id, "weight": new_weight, "params": new_params}
            self._bump(conn, block, now_ms(), actor, "update_variant", details)
            return self._load(conn, site_id, block_id)[0]

    def history(self, site_id: str, block_id: int) -> list[dict[str, Any]]:
        c = rec_block_changes.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(rec_block_changes)
                .where(c.site_id == site_id, c.block_id == block_id)
                .order_by(c.version)
            ).all()
        return [
            {
                "version": int(r.version),
                "at": iso_ms(int(r.at)),
                "actor": r.actor,
                "action": r.action,
                "details": _details_json(orjson.loads(r.details)),
            }
            for r in rows
        ]

    # --- internals -------------------------------------------------------------------------

    def _change(
        self,
        site_id: str,
        block_id: int,
        actor: str,
        action: str,
        values: dict[str, Any],
        details: dict[str, Any],
    ) -> Block:
        with self.engine.begin() as conn:
            block = self._locked(conn, site_id, block_id)
            now = now_ms()
            conn.execute(
                update(rec_blocks)
                .where(rec_blocks.c.site_id == site_id, rec_blocks.c.block_id == block_id)
                .values(**values)
            )
            self._bump(conn, block, now, actor, action, details)
            return self._load(conn, site_id, block_id)[0]

    def _locked(self, conn: Connection, site_id: str, block_id: int) -> Block:
        stmt = select(rec_blocks.c.version).where(
            rec_blocks.c.site_id == site_id,
            rec_blocks.c.block_id == block_id,
            rec_blocks.c.status != DELETED,
        )
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        if conn.execute(stmt).first() is None:
            raise NotFound(f"block {block_id} was not found", "block_id")
        return self._load(conn, site_id, block_id)[0]

    def _bump(
        self, conn: Connection, block: Block, now: int, actor: str, action: str, details: Any
    ) -> None:
        version = block.version + 1
        conn.execute(
            update(rec_blocks)
            .where(rec_blocks.c.site_id == block.site_id, rec_blocks.c.block_id == block.block_id)
            .values(version=version, updated_at=now)
        )
        self._record(conn, block.site_id, block.block_id, version, now, actor, action, details)

    @staticmethod
    def _record(
        conn: Connection,
        site_id: str,
        block_id: int,
        version: int,
        now: int,
        actor: str,
        action: str,
        details: Any,
    ) -> None:
        conn.execute(
            insert(rec_block_changes).values(
                site_id=site_id,
                block_id=block_id,
                version=version,
                at=now,
                actor=actor[:64],
                action=action,
                details=orjson.dumps(details).decode(),
            )
        )

    @staticmethod
    def _next_id(conn: Connection, column: Any, site_id: str) -> int:
        table = column.table
        if conn.dialect.name == "postgresql":
            # Two writers of one site must not pick the same number.
            key = int.from_bytes(hashlib.sha256(f"recs:{site_id}".encode()).digest()[:7], "big")
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({key})")
        current = conn.execute(
            select(func.coalesce(func.max(column), 0)).where(table.c.site_id == site_id)
        ).scalar_one()
        return int(current) + 1

    def _insert_variant(
        self, conn: Connection, site_id: str, block_id: int, spec: Mapping[str, Any], now: int
    ) -> int:
        variant_id = self._next_id(conn, rec_variants.c.variant_id, site_id)
        conn.execute(
            insert(rec_variants).values(
                site_id=site_id,
                variant_id=variant_id,
                block_id=block_id,
                algorithm=spec["algorithm"],
                params=orjson.dumps(dict(spec.get("params") or {})).decode(),
                weight=float(spec.get("weight", 1.0)),
                created_at=now,
            )
        )
        return variant_id

    @staticmethod
    def _load(conn: Connection, site_id: str, block_id: int | None = None) -> list[Block]:
        b, v = rec_blocks.c, rec_variants.c
        blocks_q = (
            select(rec_blocks).where(b.site_id == site_id, b.status != DELETED).order_by(b.block_id)
        )
        variants_q = select(rec_variants).where(v.site_id == site_id).order_by(v.variant_id)
        if block_id is not None:
            blocks_q = blocks_q.where(b.block_id == block_id)
            variants_q = variants_q.where(v.block_id == block_id)
        by_block: dict[int, list[Variant]] = {}
        for row in conn.execute(variants_q):
            by_block.setdefault(int(row.block_id), []).append(_variant(row))
        return [_block(row, by_block.get(int(row.block_id), [])) for row in conn.execute(blocks_q)]
