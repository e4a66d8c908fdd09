"""Visitors' recent history for serving, kept in memory (or Redis) instead of read per request.

A served request needs the visitor's newest ``recs_history_events`` product views, cart states
and purchases. Reading them from the store on every request cost more than everything else a
request does; here they are kept per visitor as :data:`Item` tuples, newest first.

* **Following the log.** :class:`VisitorHistory` reads the events after its cursor (by
  ``seq``, at most every ``recs_history_poll_s``, on the request that finds it due) and merges
  them into the visitors' entries, so events accepted by any process (``serve --workers N``,
  another host) are seen. On PostgreSQL it stops in front of a hole in ``seq`` while it may
  still fill, as the processors do (a committed event may appear after a higher one).
* **Union by seq.** An entry is the union of what the log brought and what a store read found,
  newest ``limit`` by ``seq``: merging is idempotent and order-free, so a store read racing
  the follower loses nothing. An entry the follower started (``complete`` false: it knows only
  the newest events) is completed by one store read on the visitor's next request.
* **Bounds.** In memory: at most ``recs_history_items`` items over all visitors, least recently
  used visitors evicted first, and each entry re-read from the store after
  ``recs_history_ttl_s``. In Redis (``redis_url``): one key per visitor that expires
  ``recs_history_ttl_s`` after it was created, shared by every process.
* **Serving reads.** An entry in memory is answered on the event loop; one in Redis is read
  there too, with ``redis.asyncio`` (:meth:`VisitorHistory.shared_entry`), so a request makes
  no thread hop; a store read or a poll of the log runs on a thread.
* **Erasure.** :meth:`VisitorHistory.forget` drops the erased visitors (after the erasure
  commits, so a concurrent store read cannot put them back from the old rows). Without Redis,
  other processes drop theirs when the entry's lifetime ends (``recs_history_ttl_s``).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, Engine, text

from shoptrack.config import Settings
from shoptrack.store.seq_holes import HoleWatch

HISTORY_TYPES = ("ProductPage", "StatusCart", "PurchasedItems")
# (seq, type, session_id, product keys): one event of the visitor, as serving reads it.
Item = tuple[int, str, str | None, tuple[str, ...]]
FOLLOW_BATCH = 5000
GAP_WAIT_S = 5.0
START_BACK = 1000
_ONE = text(
    "SELECT seq, type, session_id, data FROM events WHERE site_id = :site AND visitor_id = :visitor"
    " AND type IN ('ProductPage', 'StatusCart', 'PurchasedItems') ORDER BY seq DESC LIMIT :limit"
)
_AFTER = text(
    "SELECT seq, site_id, visitor_id, type, session_id, data FROM events WHERE seq > :after"
    " ORDER BY seq LIMIT :limit"
)
_LAST = text("SELECT COALESCE(MAX(seq), 0) FROM events")


def product_keys(data: str | bytes) -> tuple[str, ...]:
    products = orjson.loads(data).get("products") or ()
    return tuple(
        sys.intern(k)
        for k in (p.get("key") for p in products if isinstance(p, dict))
        if isinstance(k, str)
    )


def union(a: Iterable[Item], b: Iterable[Item], limit: int) -> list[Item]:
    """The newest ``limit`` items of both, newest first, each seq once."""
    merged = sorted({item[0]: item for item in (*a, *b)}.items(), reverse=True)
    return [item for _, item in merged[:limit]]


class HistoryStore(Protocol):
    in_process: bool

    def get(self, site_id: str, visitor_id: str) -> list[Item] | None:
        """The complete, unexpired entry; None when it must be (re)read from the store."""

    def merge(self, entries: dict[tuple[str, str], list[Item]], complete: bool) -> None: ...

    def drop(self, site_id: str, visitor_ids: Iterable[str]) -> int: ...

    def clear(self) -> None: ...


class _Entry:
    __slots__ = ("born", "complete", "items")

    def __init__(self, items: list[Item], complete: bool, born: float) -> None:
        self.items, self.complete, self.born = items, complete, born


class MemoryStore:
    """One process's entries: LRU over visitors, at most ``max_items`` items in all."""

    in_process = True

    def __init__(self, max_items: int, limit: int, ttl_s: float) -> None:
        self.max_items, self.limit, self.ttl_s = max_items, limit, ttl_s
        self.items = 0
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, site_id: str, visitor_id: str) -> list[Item] | None:
        key = (site_id, visitor_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or not entry.complete:
                return None
            if time.monotonic() - entry.born > self.ttl_s:
                # Expired: dropped before the store is read again, so what the follower adds
                # meanwhile joins the fresh read (an erased history does not survive).
                del self._entries[key]
                self.items -= len(entry.items)
                return None
            self._entries.move_to_end(key)
            return entry.items

    def merge(self, entries: dict[tuple[str, str], list[Item]], complete: bool) -> None:
        now = time.monotonic()
        with self._lock:
            for key, items in entries.items():
                entry = self._entries.get(key)
                if entry is None:
                    entry = self._entries[key] = _Entry([], complete, now)
                else:
                    self._entries.move_to_end(key)
                    entry.complete = entry.complete or complete
                self.items -= len(entry.items)
                entry.items = union(entry.items, items, self.limit)
                self.items += len(entry.items)
            while self.items > self.max_items and self._entries:
                _, old = self._entries.popitem(last=False)
                self.items -= len(old.items)

    def drop(self, site_id: str, visitor_ids: Iterable[str]) -> int:
        dropped = 0
        with self._lock:
            for visitor in visitor_ids:
                entry = self._entries.pop((site_id, visitor), None)
                if entry is not None:
                    self.items -= len(entry.items)
                    dropped += 1
        return dropped

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.items = 0


# Union of the stored entry and ARGV[1] ({"c": 0|1, "i": [[seq, type, session, [keys]]...]}),
# newest ARGV[2] by seq, in one step (atomic in Redis). A new key lives ARGV[3] seconds; a
# merge keeps the key's remaining lifetime. cjson writes an empty list as {}: read as [].
_MERGE_LUA = """
local new = cjson.decode(ARGV[1])
local items = {}
local complete = new.c
for _, it in ipairs(new.i) do table.insert(items, it) end
local cur = redis.call('GET', KEYS[1])
if cur then
  local old = cjson.decode(cur)
  if old.c == 1 then complete = 1 end
  for _, it in ipairs(old.i) do table.insert(items, it) end
end
table.sort(items, function(a, b) return a[1] > b[1] end)
local out, last = {}, nil
for _, it in ipairs(items) do
  if it[1] ~= last then
    table.insert(out, it)
    last = it[1]
    if #out >= tonumber(ARGV[2]) then break end
  end
end
local value = cjson.encode({c = complete, i = out})
if cur then
  redis.call('SET', KEYS[1], value, 'KEEPTTL')
else
  redis.call('SET', KEYS[1], value, 'EX', ARGV[3])
end
return 1
"""


class RedisStore:
    """Entries in Redis, shared by every serving process (``SHOPTRACK_REDIS_URL``)."""

    in_process = False

    def __init__(self, url: str, limit: int, ttl_s: float, prefix: str = "shoptrack:recs:h:"):
        # An optional dependency: only imported when Redis is configured.
        import redis
        import redis.asyncio

        self.url = url
        self.client: Any = redis.Redis.from_url(url)
        self._loop_client_for: Any = redis.asyncio.Redis.from_url
        self.limit, self.ttl = limit, max(1, int(ttl_s))
        self.prefix = prefix
        self._merge = self.client.register_script(_MERGE_LUA)
        self._on_loop: tuple[asyncio.AbstractEventLoop, Any] | None = None

    def key(self, site_id: str, visitor_id: str) -> str:
        return f"{self.prefix}{site_id}:{visitor_id}"

    def get(self, site_id: str, visitor_id: str) -> list[Item] | None:
        return _stored_entry(self.client.get(self.key(site_id, visitor_id)))

    async def get_async(self, site_id: str, visitor_id: str) -> list[Item] | None:
        """:meth:`get` without a thread: the serving path reads Redis on its event loop."""
        return _stored_entry(await self._loop_client().get(self.key(site_id, visitor_id)))

    async def close_loop_client(self) -> None:
        """Close the event loop's client (the app's shutdown, on that loop)."""
        bound, self._on_loop = self._on_loop, None
        if bound is not None:
            await bound[1].aclose()

    def _loop_client(self) -> Any:
        loop = asyncio.get_running_loop()
        bound = self._on_loop
        if bound is None or bound[0] is not loop:
            # An asyncio client's connections belong to the loop that opened them.
            bound = self._on_loop = (loop, self._loop_client_for(self.url))
        return bound[1]

    def merge(self, entries: dict[tuple[str, str], list[Item]], complete: bool) -> None:
        pipe = self.client.pipeline(transaction=False)
        for (site_id, visitor), items in entries.items():
            value = orjson.dumps({"c": int(complete), "i": items})
            self._merge(keys=[self.key(site_id, visitor)], args=[value, self.limit, self.ttl],
                        client=pipe)  # fmt: skip
        pipe.execute()

    def drop(self, site_id: str, visitor_ids: Iterable[str]) -> int:
        keys = [self.key(site_id, v) for v in visitor_ids]
        return int(self.client.delete(*keys)) if keys else 0

    def clear(self) -> None:
        for key in self.client.scan_iter(match=f"{self.prefix}*", count=1000):
            self.client.delete(key)


def _stored_entry(raw: bytes | None) -> list[Item] | None:
    """A Redis value as items; None when absent or not complete (the store must be read)."""
    if raw is None:
        return None
    found = orjson.loads(raw)
    if not found["c"]:
        return None
    items = found["i"] if isinstance(found["i"], list) else []
    return [
        (int(s), str(t), None if session is None else str(session),
         tuple(keys) if isinstance(keys, list) else ())
        for s, t, session, keys in items
    ]  # fmt: skip


class VisitorHistory:
    """Recent history per visitor for serving: the store plus the follower of the log."""

    def __init__(self, engine: Engine, settings: Settings, store: HistoryStore) -> None:
        self.engine = engine
        self.store = store
        self.limit = settings.recs_history_events
        self.poll_s = settings.recs_history_poll_s
        self.cursor: int | None = None  # the last seq read; None until the first poll
        self.polled_at = 0.0
        self._follow_lock = threading.Lock()
        self._holes = HoleWatch()
        self._postgres = engine.dialect.name == "postgresql"
        # Polling before every request (tests) reads what is committed, holes or not, as the
        # processors' drain does.
        self.gap_wait_s = GAP_WAIT_S if self.poll_s > 0 else 0.0

    # --- following the log -----------------------------------------------------------------

    def due(self) -> bool:
        return time.monotonic() - self.polled_at >= self.poll_s

    def follow(self, wait: bool = False) -> int:
        """Read the events after the cursor into the entries; answers how many were read.

        Only one thread reads at a time; another one that finds it busy goes on with what is
        loaded (unless ``wait``, or the poll interval is 0 as in tests: then it waits)."""
        if not self._follow_lock.acquire(blocking=wait or self.poll_s == 0):
            return 0
        try:
            self.polled_at = time.monotonic()
            read = 0
            with self.engine.connect() as conn:
                if self.cursor is None:
                    # A new process: what is in the store now is read per visitor on demand.
                    # On PostgreSQL a little earlier: an event below the newest seq may not
                    # have committed yet (merging one again is harmless).
                    last = int(conn.execute(_LAST).scalar_one())
                    self.cursor = max(0, last - START_BACK) if self._postgres else last
                    return 0
                while True:
                    params = {"after": self.cursor, "limit": FOLLOW_BATCH}
                    found: list[Any] = list(conn.execute(_AFTER, params))
                    seqs = [int(row[0]) for row in found]
                    rows = found[: self._holes.readable(conn, self.cursor, seqs, self.gap_wait_s)]
                    if not rows:
                        return read
                    batch: dict[tuple[str, str], list[Item]] = {}
                    for seq, site_id, visitor, kind, session, data in rows:
                        if visitor is not None and kind in HISTORY_TYPES:
                            item = (int(seq), kind, session, product_keys(data))
                            batch.setdefault((site_id, visitor), []).append(item)
                    if batch:
                        self.store.merge(batch, complete=False)
                    self.cursor = int(rows[-1][0])
                    read += len(rows)
                    if len(rows) < FOLLOW_BATCH:
                        return read
        finally:
            self._follow_lock.release()

    # --- serving ---------------------------------------------------------------------------

    def ready(self, site_id: str, visitor_id: str) -> bool:
        """Answerable from this process's memory now: no poll due, the entry loaded."""
        return (
            self.store.in_process
            and not self.due()
            and self.store.get(site_id, visitor_id) is not None
        )

    async def shared_entry(self, site_id: str, visitor_id: str) -> list[Item] | None:
        """The visitor's items from Redis, read on the event loop; None when answering needs
        a thread's work instead (no Redis, a poll of the log due, or a store read)."""
        if not isinstance(self.store, RedisStore) or self.due():
            return None
        return await self.store.get_async(site_id, visitor_id)

    async def aclose(self) -> None:
        """Let go of what :meth:`shared_entry` opened on the running loop."""
        if isinstance(self.store, RedisStore):
            await self.store.close_loop_client()

    def recent(self, site_id: str, visitor_ids: list[str]) -> list[Item]:
        """The visitors' newest items together, newest first (as one store read would be)."""
        if self.due():
            self.follow()
        out: list[Item] = []
        for visitor in visitor_ids:
            items = self.store.get(site_id, visitor)
            if items is None:
                items = self._read(site_id, visitor)
            out = union(out, items, self.limit) if out else items
        return out

    def _read(self, site_id: str, visitor_id: str) -> list[Item]:
        params = {"site": site_id, "visitor": visitor_id, "limit": self.limit}
        with self.engine.connect() as conn:
            rows = conn.execute(_ONE, params).all()
        items = [(int(seq), kind, session, product_keys(data)) for seq, kind, session, data in rows]
        self.store.merge({(site_id, visitor_id): items}, complete=True)
        # What the follower merged meanwhile is newer than the read: answer the union.
        return self.store.get(site_id, visitor_id) or items

    def forget(self, site_id: str, visitor_ids: Iterable[str]) -> int:
        return self.store.drop(site_id, list(visitor_ids))


class ErasedVisitors:
    """An erasure step (``identity.erasure.ErasureStep``) that only notes the visitors erased,
    for :meth:`VisitorHistory.forget` once the erasure has committed."""

    def __init__(self) -> None:
        self.visitor_ids: list[str] = []

    def step(
        self, _conn: Connection, _site_id: str, _contact_ids: list[str], visitor_ids: list[str]
    ) -> dict[str, int]:
        self.visitor_ids.extend(visitor_ids)
        return {}


def open_history(engine: Engine, settings: Settings) -> VisitorHistory | None:
    """The configured history: Redis with ``redis_url``, else this process's memory; None
    when ``recs_history_items`` is 0 (every request reads the store, as before)."""
    if settings.recs_history_items == 0:
        return None
    limit, ttl = settings.recs_history_events, settings.recs_history_ttl_s
    store: HistoryStore
    if settings.redis_url is not None:
        store = RedisStore(settings.redis_url.get_secret_value(), limit, ttl)
    else:
        store = MemoryStore(settings.recs_history_items, limit, ttl)
    return VisitorHistory(engine, settings, store)
