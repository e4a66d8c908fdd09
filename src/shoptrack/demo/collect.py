"""The demo's traffic on its way in: session scripts → requests → the collector → processors.

Requests go through the collector as ``/webevent`` would take them (the same reading,
pipeline, rejections and group commit, without the socket), each received at its own past
time; then every registered processor reads the log, reporting its progress.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import func, select

from shoptrack.collector.enrich import truncate_ip
from shoptrack.collector.pipeline import RequestMeta
from shoptrack.collector.wire import read_webevent
from shoptrack.demo.browsing import DemoRequest, TrafficRenderer
from shoptrack.demo.catalogue import DemoProduct
from shoptrack.demo.sessions import (
    SessionScript,
    generated_sessions,
    retailrocket_path,
    retailrocket_sessions,
)
from shoptrack.processing.runner import cursor_position
from shoptrack.services import Services
from shoptrack.store.tables import events

Progress = Callable[[str, int, int], None]  # (stage, done, total)
_CONCURRENT_REQUESTS = 64


def session_scripts(
    data_dir: Path | None, products: list[DemoProduct], now: int, rng: random.Random
) -> tuple[str, Iterator[SessionScript]]:
    """Where the sessions come from (for the summary) and the endless sessions."""
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


@asynccontextmanager
async def running_writer(services: Services) -> AsyncIterator[None]:
    """The group-commit writer, running for the ``async with`` block (then committed, stopped)."""
    services.writer.start()
    try:
        yield
    finally:
        await services.writer.close()


async def ingest(
    services: Services, requests: list[DemoRequest], progress: Progress, stage: str
) -> None:
    """Each request through the collector, received at its own time (the writer running)."""
    collector, settings = services.collector, services.settings

    async def one(request: DemoRequest) -> None:
        meta = RequestMeta(request.at_ms, truncate_ip(request.ip), request.user_agent)
        _site, candidates, _envelope = read_webevent(
            request.body, settings.max_events_per_batch, meta.received_ms, check_strings=False
        )
        await collector.ingest(candidates, meta, source="browser", endpoint="webevent")

    for start in range(0, len(requests), _CONCURRENT_REQUESTS):
        chunk = requests[start : start + _CONCURRENT_REQUESTS]
        await asyncio.gather(*(one(request) for request in chunk))
        progress(stage, start + len(chunk), len(requests))


def process_all(services: Services, progress: Progress, stage: str = "processing") -> None:
    """Every processor over the whole log, reporting how far they got."""
    runner, engine = services.runner, services.engine
    with engine.connect() as conn:
        target = int(conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one())
    total = target * len(runner.processors)
    for number, processor in enumerate(runner.processors):
        while True:
            with engine.connect() as conn:
                position = cursor_position(conn, processor.name)
            progress(stage, number * target + min(position, target), total)
            if position >= target:
                break
            runner.step(processor, gap_wait=0.0)
