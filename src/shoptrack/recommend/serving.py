"""The serving path: read-only, in memory, refreshed when the store has something newer.

:class:`RecommendationService` keeps one :class:`~.state.SiteState` per site. Every
``recs_refresh_interval_s`` a request checks four small stamps (blocks, snapshot, counters,
catalogue); changed blocks are swapped in at once, a changed model or catalogue is rebuilt on
a background thread while the old state keeps serving (with an interval of 0, as in tests,
everything is reloaded before answering). The visitor's recent events (recently viewed,
personal, the cart and purchases) come from :mod:`.history`, kept in memory or Redis from the
event log; without it (``recs_history_items=0``), from an index range on
``(site_id, visitor_id, seq)`` per request.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import Engine, select, text

from shoptrack.config import Settings
from shoptrack.errors import NotFound
from shoptrack.identity.store import visitors_of
from shoptrack.recommend.block_rules import LIVE, PAUSED
from shoptrack.recommend.blocks import Block, BlockStore, Variant, choose_variant, parse_variant_id
from shoptrack.recommend.catalog_view import catalog_stamp, load_catalog
from shoptrack.recommend.history import Item, VisitorHistory, product_keys
from shoptrack.recommend.model import empty_model
from shoptrack.recommend.state import Context, SiteState, build_state
from shoptrack.recommend.strategies import ranked
from shoptrack.recommend.training import (
    TYPES,
    counters_stamp,
    latest_snapshot,
    latest_snapshot_id,
    load_counters,
)
from shoptrack.store.tables import contacts, events

log = logging.getLogger(__name__)
MAX_LIMIT = 100
Digest = tuple[list[int], list[int], list[int], list[int]]
DIGEST_CACHE = 50_000  # visitors' histories as catalogue rows, per site state
ENCODED_CACHE = 200_000  # encoded products kept per site state (~0.3 KB each)
_HISTORY_ONE = text(
    "SELECT seq, type, session_id, data FROM events WHERE site_id = :site AND visitor_id = :visitor"
    " AND type IN ('ProductPage', 'StatusCart', 'PurchasedItems') ORDER BY seq DESC LIMIT :limit"
)
Stamps = tuple[tuple[int, int], int, int, tuple[int, int, int]]


class VariantNotFound(LookupError):
    def __init__(self, variant: str) -> None:
        super().__init__(f"variantId {variant} was not found in config")
        self.message = str(self.args[0])


class VariantPaused(VariantNotFound):
    """A paused block's variant: answered like an unknown one (404), saying why."""

    def __init__(self, variant: str, block_id: int) -> None:
        LookupError.__init__(self, f"variantId {variant} is paused (block {block_id})")
        self.message = str(self.args[0])


def with_param(url: str | None, name: str, value: str) -> str | None:
    if not url:
        return None
    base, hash_mark, fragment = url.partition("#")
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{name}={quote(value, safe='_')}{hash_mark}{fragment}"


def merge_filters(block: dict[str, Any], request: dict[str, Any] | None) -> dict[str, Any]:
    """The block's filters with the request's: rule lists add up, single values override."""
    merged = dict(block)
    for key, value in (request or {}).items():
        if key in ("include", "exclude", "should"):
            merged[key] = list(merged.get(key) or []) + list(value)
        else:
            merged[key] = value
    return merged


def contact_default_block(site_id: str) -> Block:
    """Without a block: six personal products (the e-mail data source of the platform)."""
    personal = Variant(0, 0, "personal", {}, 1.0)
    return Block(
        site_id, 0, "personal", "email", 6, {}, None, "beforeend", None, None, "live", None, "",
        0, 0, 0, (personal,),
    )  # fmt: skip


def digest(rows: list[Item], row_of: dict[str, int]) -> Digest:
    """(viewed oldest first, viewed in the current session, the cart, purchased) as catalogue
    rows, from a visitor's items newest first."""
    viewed: list[int] = []
    session_viewed: list[int] = []
    cart: list[int] = []
    purchased: list[int] = []
    current_session = rows[0][2] if rows else None
    cart_known = False
    for _seq, kind, session, keys in rows:  # newest first
        found = [row_of[k] for k in keys if k in row_of]
        if kind == "ProductPage":
            viewed.extend(found[:1])
            if session == current_session:
                session_viewed.extend(found[:1])
        elif kind == "StatusCart":
            if not cart_known:
                cart, cart_known = found, True
        else:
            purchased.extend(found)
            cart_known = True  # a purchase newer than any cart state empties the cart
    viewed.reverse()
    session_viewed.reverse()
    return viewed, session_viewed, cart, purchased


class RecommendationService:
    def __init__(
        self, engine: Engine, settings: Settings, history: VisitorHistory | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings
        # Without one (the CLI, the trigger worker) every request reads the store.
        self.history = history
        self.blocks = BlockStore(engine)
        self._states: dict[str, SiteState] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._reloading: set[str] = set()
        self._guard = threading.Lock()

    # --- state -----------------------------------------------------------------------------

    def _stamps(self, site_id: str) -> Stamps:
        blocks = self.blocks.stamp(site_id)
        with self.engine.connect() as conn:
            return (
                blocks,
                latest_snapshot_id(conn, site_id),
                counters_stamp(conn, site_id),
                catalog_stamp(conn, site_id),
            )

    def _load(self, site_id: str, stamps: Stamps) -> SiteState:
        current = self._states.get(site_id)
        with self.engine.connect() as conn:
            catalog = load_catalog(conn, site_id)
            snap = latest_snapshot(conn, site_id)
            if current is not None and (snap is None or snap[0] < current.model_id):
                # The newer snapshots do not load (logged): keep serving the last good model.
                snap = (current.model_id, current.model)
            model_id, model = snap if snap is not None else (0, empty_model())
            counters = load_counters(conn, site_id, model_id) or model.counters
        state = build_state(site_id, catalog, model, counters, self.blocks.list_blocks(site_id))
        state.model_id = model_id
        # The newest snapshot seen, loaded or not: one that failed is tried again only when
        # the store has news (counters fold in every minute), not on every request.
        state.snapshot_id, state.counters_stamp = stamps[1], stamps[2]
        state.blocks_stamp = stamps[0]
        state.catalog.stamp = stamps[3]
        state.checked_at = time.monotonic()
        return state

    def _same_data(self, state: SiteState, stamps: Stamps) -> bool:
        return (state.snapshot_id, state.counters_stamp, state.catalog.stamp) == stamps[1:]

    def state(self, site_id: str) -> SiteState:
        interval = self.settings.recs_refresh_interval_s
        state = self._states.get(site_id)
        if state is not None and time.monotonic() - state.checked_at < interval:
            return state
        with self._guard:
            lock = self._locks.setdefault(site_id, threading.Lock())
        if state is not None and interval > 0:
            # Serve what is loaded; a background thread checks the store and swaps in news.
            state.checked_at = time.monotonic()
            self._reload_in_background(site_id, None)
            return state
        with lock:
            state = self._states.get(site_id)
            if state is not None and time.monotonic() - state.checked_at < interval:
                return state
            stamps = self._stamps(site_id)
            if state is not None and self._same_data(state, stamps):
                if state.blocks_stamp != stamps[0]:
                    state.blocks = {b.block_id: b for b in self.blocks.list_blocks(site_id)}
                    state.blocks_stamp = stamps[0]
                state.checked_at = time.monotonic()
                return state
            if state is not None and interval > 0:
                state.checked_at = time.monotonic()
                self._reload_in_background(site_id, stamps)
                return state
            state = self._states[site_id] = self._load(site_id, stamps)
            return state

    def _reload_in_background(self, site_id: str, stamps: Stamps | None) -> None:
        with self._guard:
            if site_id in self._reloading:
                return
            self._reloading.add(site_id)

        def run() -> None:
            try:
                current = self._states.get(site_id)
                fresh = stamps or self._stamps(site_id)
                if current is not None and self._same_data(current, fresh):
                    if current.blocks_stamp != fresh[0]:
                        current.blocks = {b.block_id: b for b in self.blocks.list_blocks(site_id)}
                        current.blocks_stamp = fresh[0]
                    return
                self._states[site_id] = self._load(site_id, fresh)
            except Exception as exc:  # the old state keeps serving; the next interval retries
                log.error(
                    "reloading recommendations of %s failed, the loaded model keeps serving: "
                    "%s: %s", site_id, type(exc).__name__, exc,
                )  # fmt: skip
            finally:
                with self._guard:
                    self._reloading.discard(site_id)

        threading.Thread(target=run, name=f"recs-reload-{site_id}", daemon=True).start()

    def is_fresh(self, site_id: str) -> bool:
        """Loaded and checked within the refresh interval: :meth:`state` will not wait."""
        state = self._states.get(site_id)
        interval = self.settings.recs_refresh_interval_s
        return state is not None and time.monotonic() - state.checked_at < interval

    def refresh_blocks(self, site_id: str) -> None:
        """Swap in the site's blocks now (this process just changed one)."""
        state = self._states.get(site_id)
        if state is not None:
            state.blocks = {b.block_id: b for b in self.blocks.list_blocks(site_id)}
            state.blocks_stamp = self.blocks.stamp(site_id)

    # --- history ---------------------------------------------------------------------------

    def context(
        self,
        state: SiteState,
        visitor_ids: list[str],
        products: list[str],
        category: str | None,
        history: list[Item] | None = None,
    ) -> Context:
        row_of = state.catalog.row_of
        ctx = Context(
            product_rows=[row_of[p] for p in products if p in row_of],
            category=category or None,
        )
        if not visitor_ids:
            return ctx
        if history is not None:
            rows: list[Item] = history
        elif self.history is not None:
            rows = self.history.recent(state.site_id, visitor_ids)
        else:
            rows = self._read_history(state.site_id, visitor_ids)
        # A history kept in memory is the same list object until it changes: what it means in
        # this catalogue's rows is worked out once, not on every request.
        digests = state.digests
        found = digests.get(id(rows))
        if found is None or found[0] is not rows:
            if len(digests) >= DIGEST_CACHE:
                digests.clear()
            found = (rows, digest(rows, row_of))
            in_memory = self.history is not None and self.history.store.in_process
            if in_memory and len(visitor_ids) == 1:
                digests[id(rows)] = found
        viewed, session_viewed, cart, purchased = found[1]
        ctx.viewed, ctx.session_viewed = list(viewed), list(session_viewed)
        ctx.cart, ctx.purchased = list(cart), list(purchased)
        return ctx

    def _read_history(self, site_id: str, visitor_ids: list[str]) -> list[Item]:
        """The visitors' newest events from the store (no in-memory history configured)."""
        limit = self.settings.recs_history_events
        with self.engine.connect() as conn:
            if len(visitor_ids) == 1:
                # One prepared text statement (no SQL building per request).
                params = {"site": site_id, "visitor": visitor_ids[0], "limit": limit}
                rows = conn.execute(_HISTORY_ONE, params).all()
            else:
                e = events.c
                stmt = (
                    select(e.seq, e.type, e.session_id, e.data)
                    .where(
                        e.site_id == site_id,
                        e.visitor_id.in_(visitor_ids),
                        e.type.in_(TYPES),
                    )
                    .order_by(e.seq.desc())
                    .limit(limit)
                )
                rows = conn.execute(stmt).all()
        return [(int(seq), kind, session, product_keys(data)) for seq, kind, session, data in rows]

    def history_ready(self, site_id: str, visitor_id: str | None) -> bool:
        """A request of this visitor needs no store or network I/O (see :meth:`is_fresh`)."""
        if not visitor_id:
            return True
        return self.history is not None and self.history.ready(site_id, visitor_id)

    # --- recommending ----------------------------------------------------------------------

    def rows_for(
        self,
        state: SiteState,
        block: Block,
        variant: Variant,
        ctx: Context,
        filters: dict[str, Any] | None,
        limit: int | None,
    ) -> list[int]:
        want = max(1, min(MAX_LIMIT, limit or block.product_count))
        merged = merge_filters(block.filters, filters)
        masks = state.catalog.masks(
            {k: v for k, v in merged.items() if k not in ("exclude_purchased", "one_per_group")}
        )
        excluded = set(ctx.product_rows) | set(ctx.cart)
        if merged.get("exclude_purchased", self.settings.recs_exclude_purchased):
            excluded |= set(ctx.purchased)
        one_per_group = bool(merged.get("one_per_group", True))
        lists = ranked(state, variant.algorithm, variant.params, ctx, max(want * 4, 50))
        lists.append(state.orders["default"])
        group = state.catalog.group
        groups = (
            {int(group[r]) for r in ctx.product_rows if group[r] >= 0} if one_per_group else set()
        )
        out: list[int] = []
        passes = [masks.hard] if masks.should is None else [masks.hard & masks.should, masks.hard]
        for mask in passes:
            for candidates in lists:
                pos, step = 0, 64
                while pos < candidates.size and len(out) < want:
                    chunk = candidates[pos : pos + step]
                    pos, step = pos + step, step * 4
                    for row in chunk[mask[chunk]].tolist():
                        if row in excluded:
                            continue
                        if one_per_group:
                            g = int(group[row])
                            if g >= 0:
                                if g in groups:
                                    continue
                                groups.add(g)
                        excluded.add(row)
                        out.append(row)
                        if len(out) >= want:
                            return out
        return out

    def render(
        self, state: SiteState, block: Block, variant: Variant, rows: list[int], all_fields: bool
    ) -> list[dict[str, Any]]:
        container = block.container_type(variant)
        catalog = state.catalog
        out = []
        for row in rows:
            item = catalog.product(row, all_fields)
            item["container_type"] = container
            item["url"] = with_param(catalog.links[row], "sc_content", container)
            out.append(item)
        return out

    def render_json(
        self, state: SiteState, block: Block, variant: Variant, rows: list[int], all_fields: bool
    ) -> bytes:
        """``{"products": [...]}`` as :meth:`render` then ``orjson.dumps`` would give, from
        products encoded once per state (a product's JSON depends only on its row, the
        container and ``all_fields``; a new catalogue comes with a new state)."""
        container = block.container_type(variant)
        cache = state.encoded
        parts = []
        for row in rows:
            key = (row, container, all_fields)
            part = cache.get(key)
            if part is None:
                if len(cache) >= ENCODED_CACHE:
                    cache.clear()  # rare (many containers × products): start again
                part = cache[key] = orjson.dumps(self.render(state, block, variant, [row],
                                                             all_fields)[0])  # fmt: skip
            parts.append(part)
        return b'{"products":[' + b",".join(parts) + b"]}"

    def recommend(
        self,
        site_id: str,
        variant_text: str,
        *,
        visitor: str | None = None,
        products: list[str] | None = None,
        category: str | None = None,
        filters: dict[str, Any] | None = None,
        all_fields: bool = False,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """``GET {recs_path}/{site}?variant=…``; raises :class:`VariantNotFound`."""
        state, block, variant, rows = self._recommend(
            site_id, variant_text, visitor, products, category, filters, limit
        )
        return self.render(state, block, variant, rows, all_fields)

    def recommend_json(
        self,
        site_id: str,
        variant_text: str,
        *,
        visitor: str | None = None,
        products: list[str] | None = None,
        category: str | None = None,
        filters: dict[str, Any] | None = None,
        all_fields: bool = False,
        limit: int | None = None,
        history: list[Item] | None = None,
    ) -> bytes:
        """:meth:`recommend` as the encoded ``{"products": [...]}`` body (the HTTP path);
        ``history``: the visitor's items when the caller has read them already."""
        state, block, variant, rows = self._recommend(
            site_id, variant_text, visitor, products, category, filters, limit, history
        )
        return self.render_json(state, block, variant, rows, all_fields)

    def _recommend(
        self,
        site_id: str,
        variant_text: str,
        visitor: str | None,
        products: list[str] | None,
        category: str | None,
        filters: dict[str, Any] | None,
        limit: int | None,
        history: list[Item] | None = None,
    ) -> tuple[SiteState, Block, Variant, list[int]]:
        parsed = parse_variant_id(variant_text)
        state = self.state(site_id)
        found = state.variant(*parsed) if parsed is not None else None
        if found is None:
            raise VariantNotFound(variant_text)
        block, variant = found
        if block.status == PAUSED:
            raise VariantPaused(variant_text, block.block_id)
        ctx = self.context(state, [visitor] if visitor else [], products or [], category, history)
        return state, block, variant, self.rows_for(state, block, variant, ctx, filters, limit)

    def page_blocks(
        self, site_id: str, page_type: str, visitor: str | None, preview: str | None
    ) -> list[dict[str, Any]]:
        """The blocks to render on a page of ``page_type`` with the visitor's variants."""
        state = self.state(site_id)
        out = []
        for block in state.blocks.values():
            if not block.variants or block.page_type not in (page_type, "any"):
                continue
            if block.page_type == "any" and page_type == "email":
                continue
            if block.status == PAUSED:
                continue  # not even with the preview token: paused means off
            if block.status != LIVE and not (preview and preview == block.preview_token):
                continue
            variant = choose_variant(block, visitor)
            out.append(
                {
                    "block_id": block.block_id,
                    "variant_id": variant.ident,
                    "container_type": block.container_type(variant),
                    "page_type": block.page_type,
                    "selector": block.selector,
                    "position": block.position,
                    "template": block.template,
                    "title": block.title,
                    "count": block.product_count,
                    "status": block.status,
                }
            )
        return out

    def for_contact(
        self,
        site_id: str,
        contact_id: str,
        *,
        block_id: int | None = None,
        products: list[str] | None = None,
        category: str | None = None,
        filters: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """Recommendations for a contact from the history of every visitor linked to it."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(contacts.c.merged_into).where(
                    contacts.c.site_id == site_id, contacts.c.contact_id == contact_id
                )
            ).first()
            if row is None:
                raise NotFound(f"contact {contact_id} was not found", "contact_id")
            contact_id = row.merged_into or contact_id
            visitors = [v["visitor_id"] for v in visitors_of(conn, site_id, contact_id)]
        state = self.state(site_id)
        if block_id is not None:
            block = state.blocks.get(block_id)
            if block is None or not block.variants:
                raise NotFound(f"block {block_id} was not found", "block")
            if block.status == PAUSED:
                raise NotFound(f"block {block_id} is paused", "block")
        else:
            block = contact_default_block(site_id)
        variant = choose_variant(block, contact_id)
        ctx = self.context(state, visitors, products or [], category)
        rows = self.rows_for(state, block, variant, ctx, filters, limit)
        return {
            "contact_id": contact_id,
            "block_id": block.block_id or None,
            "variant_id": variant.ident if block.block_id else None,
            "products": self.render(state, block, variant, rows, True),
        }
