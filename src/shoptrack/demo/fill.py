"""``shoptrack demo``'s fill: a demo site with a month of traffic, through the real paths.

In order: the demo site; its catalogue, imported from a generated feed file by the feed
importer; two live recommendation blocks with two variants each; a month of visits rendered
as tracker requests and handed to the collector (the ``/webevent`` path without the socket:
same reading, pipeline, rejections and group commit); every processor run over the log
(contacts, catalogue values, block reports, trigger state); the models trained; a dashboard
user. A marker in the site's internal settings says the fill finished, so a second run reuses
the store (``--refill`` starts over) and an interrupted one is redone.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from shoptrack.collector.enrich import truncate_ip
from shoptrack.collector.pipeline import RequestMeta
from shoptrack.collector.wire import read_webevent
from shoptrack.demo.browsing import DemoRequest, PlacedBlock, TrafficRenderer
from shoptrack.demo.catalogue import DemoProduct, import_catalogue
from shoptrack.demo.sessions import (
    SessionScript,
    generated_sessions,
    retailrocket_path,
    retailrocket_sessions,
)
from shoptrack.demo.store_files import DEMO_SITE_ID, feed_file, refuse_shop_store
from shoptrack.processing.runner import cursor_position
from shoptrack.recommend.blocks import BlockStore
from shoptrack.recommend.training import train_site
from shoptrack.services import Services
from shoptrack.store.site_settings import get_or_create_internal, read_settings
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import contacts, events, rejected_events

Progress = Callable[[str, int, int], None]  # (stage, done, total)
FILLED_MARK = "_demo_filled"
DEFAULT_EVENTS = 60_000
DEFAULT_PRODUCTS = 400
_CONCURRENT_REQUESTS = 64


def _quiet(_stage: str, _done: int, _total: int) -> None:
    pass


@dataclass(slots=True)
class FillResult:
    site_id: str
    reused: bool
    seconds: float = 0.0
    products: int = 0
    events: int = 0
    rejected: int = 0
    contacts: int = 0
    orders: int = 0
    blocks: int = 0
    source: str = ""
    api_key: str | None = None  # the site's key, when this fill created the site
    stages: dict[str, float] = field(default_factory=dict)


def is_filled(services: Services, site_id: str = DEMO_SITE_ID) -> bool:
    with services.engine.connect() as conn:
        if services.site_repo.get(site_id) is None:
            return False
        return FILLED_MARK in read_settings(conn, site_id)


def _placed_blocks(store: BlockStore, site_id: str) -> list[PlacedBlock]:
    """Two live blocks, each an A/B test; the second variants are the better ones."""
    home = store.create(
        site_id,
        {"name": "Home: picked for you", "page_type": "main", "count": 4,
         "title": "Picked for you"},
        [{"algorithm": "popular", "weight": 1}, {"algorithm": "trending", "weight": 1}],
        status="live", actor="demo",
    )  # fmt: skip
    product = store.create(
        site_id,
        {"name": "Product page: you may also like", "page_type": "product", "count": 4,
         "title": "You may also like", "filters": {"in_stock": True}},
        [{"algorithm": "also-viewed", "weight": 1}, {"algorithm": "vstan-blend", "weight": 1}],
        status="live", actor="demo",
    )  # fmt: skip
    return [
        PlacedBlock(home, "main", dict(zip([v.variant_id for v in home.variants], (0.05, 0.08),
                                           strict=True))),
        PlacedBlock(product, "product", dict(zip([v.variant_id for v in product.variants],
                                                 (0.07, 0.11), strict=True))),
    ]  # fmt: skip


def _scripts(
    data_dir: Path | None, products: list[DemoProduct], now: int, rng: random.Random
) -> tuple[str, Iterator[SessionScript]]:
    path = retailrocket_path(data_dir)
    if path is None:
        return "generated", generated_sessions(products, now, rng)

    def replays() -> Iterator[SessionScript]:
        replay = 0
        while True:
            sessions = retailrocket_sessions(path, products, now, replay)
            rng.shuffle(sessions)  # a partial last replay still spreads over the month
            yield from sessions
            replay += 1

    return f"RetailRocket sample ({path})", replays()


def render_traffic(
    renderer: TrafficRenderer, scripts: Iterable[SessionScript], target_events: int
) -> list[DemoRequest]:
    """Requests for sessions until ``target_events`` events, in the order they arrived."""
    requests: list[DemoRequest] = []
    count = 0
    for script in scripts:
        if count >= target_events:
            break
        for request in renderer.render(script):
            requests.append(request)
            count += request.events
    requests.sort(key=lambda r: r.at_ms)
    return requests


async def _ingest(services: Services, requests: list[DemoRequest], progress: Progress) -> None:
    """Each request through the collector as ``/webevent`` would, received at its own time."""
    collector, settings = services.collector, services.settings

    async def one(request: DemoRequest) -> None:
        meta = RequestMeta(request.at_ms, truncate_ip(request.ip), request.user_agent)
        _site, candidates, _envelope = read_webevent(
            request.body, settings.max_events_per_batch, meta.received_ms, check_strings=False
        )
        await collector.ingest(candidates, meta, source="browser", endpoint="webevent")

    services.writer.start()
    try:
        for start in range(0, len(requests), _CONCURRENT_REQUESTS):
            chunk = requests[start : start + _CONCURRENT_REQUESTS]
            await asyncio.gather(*(one(request) for request in chunk))
            progress("collecting events", start + len(chunk), len(requests))
    finally:
        await services.writer.close()


def _process(services: Services, progress: Progress) -> None:
    """Every processor over the whole log, reporting how far they got."""
    runner, engine = services.runner, services.engine
    with engine.connect() as conn:
        target = int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())
    total = target * len(runner.processors)
    for number, processor in enumerate(runner.processors):
        while True:
            with engine.connect() as conn:
                position = cursor_position(conn, processor.name)
            progress("processing", number * target + min(position, target), total)
            if position >= target:
                break
            runner.step(processor, gap_wait=0.0)


def _count(services: Services, table: object, site_id: str) -> int:
    column = table.c.site_id  # type: ignore[attr-defined]
    with services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(column == site_id)).scalar_one())


def fill_demo(
    services: Services,
    *,
    site_id: str = DEMO_SITE_ID,
    events_wanted: int = DEFAULT_EVENTS,
    products_wanted: int = DEFAULT_PRODUCTS,
    data_dir: Path | None = None,
    seed: int = 15,
    progress: Progress = _quiet,
) -> FillResult:
    """Fill the demo site, or reuse it when an earlier fill finished."""
    if is_filled(services, site_id):
        return FillResult(site_id, reused=True)
    engine, settings = services.engine, services.settings
    refuse_shop_store(settings, engine, site_id)
    started = time.perf_counter()
    result = FillResult(site_id, reused=False)
    rng = random.Random(seed)

    def stage(name: str, since: float) -> float:
        now = time.perf_counter()
        result.stages[name] = round(now - since, 2)
        return now

    mark = started
    if services.site_repo.get(site_id) is None:
        result.api_key = services.site_repo.create("Demo shop", site_id)[1]
    progress("importing the catalogue", 0, 2)
    products, _outcomes = import_catalogue(
        engine, settings, site_id, feed_file(settings), products_wanted, rng
    )
    progress("importing the catalogue", 2, 2)
    mark = stage("catalogue", mark)
    placed = _placed_blocks(BlockStore(engine), site_id)
    now = now_ms()
    result.source, scripts = _scripts(data_dir, products, now, rng)
    renderer = TrafficRenderer(site_id, products, placed, rng)
    requests = render_traffic(renderer, scripts, events_wanted)
    mark = stage("rendering", mark)
    asyncio.run(_ingest(services, requests, progress))
    mark = stage("collecting", mark)
    _process(services, progress)
    mark = stage("processing", mark)
    progress("training recommendations", 0, 1)
    train_site(engine, site_id)
    progress("training recommendations", 1, 1)
    mark = stage("training", mark)
    result.products = len(products)
    result.events = _count(services, events, site_id)
    result.rejected = _count(services, rejected_events, site_id)
    result.contacts = _count(services, contacts, site_id)
    result.orders = renderer.orders
    result.blocks = len(placed)
    result.seconds = round(time.perf_counter() - started, 1)
    get_or_create_internal(engine, site_id, FILLED_MARK, lambda: str(now_ms()))
    return result
