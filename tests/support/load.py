"""Concurrent /webevent clients that keep every batch until the server acknowledges it.

This is the client half of the crash test: many keep-alive clients (one thread each) send
browser batches with client-made ids and record exactly which ids came back in a 200 answer.
A batch that fails at the transport level is kept and sent again, as the tracker does, so a
batch the server committed but could not acknowledge is sent twice on purpose.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from tests.support.payloads import browser_event, webevent_body

_EVENT_SHAPES: list[tuple[str, dict[str, Any] | None]] = [
    ("PageView", None),
    ("MainPage", None),
    (
        "ProductPage",
        {"ProductPage": {"productKey": "24-MB02", "price": "153", "isInStock": 1}},
    ),
    ("CategoryPage", {"CategoryPage": {"categoryKey": "509876"}}),
    ("SearchRequest", {"SearchRequest": {"search": "running shoes", "isFound": 1}}),
]


@dataclass(slots=True)
class Batch:
    """One /webevent request's events: what a tracker would hold until it is acknowledged."""

    visitor_id: str
    events: list[dict[str, Any]]
    attempts: int = 0

    @property
    def ids(self) -> list[str]:
        return [str(event["id"]) for event in self.events]


def make_batches(
    run_tag: str,
    total_events: int,
    *,
    visitors: int,
    seed: int,
    single_share: float = 0.6,
    max_batch: int = 10,
) -> list[Batch]:
    """Batches holding ``total_events`` events with unique ids, singles and small batches mixed."""
    rng = random.Random(seed)
    batches: list[Batch] = []
    made = 0
    while made < total_events:
        size = 1 if rng.random() < single_share else rng.randint(2, max_batch)
        size = min(size, total_events - made)
        events = []
        for _ in range(size):
            name, payload = _EVENT_SHAPES[rng.randrange(len(_EVENT_SHAPES))]
            events.append(browser_event(name, payload, event_id=f"{run_tag}-{made:06d}"))
            made += 1
        batches.append(Batch(f"{run_tag}-v{rng.randrange(visitors)}", events))
    return batches


@dataclass(frozen=True, slots=True)
class KillSnapshot:
    """What the clients knew at the instant the server was killed."""

    acked_requests: int
    acked_events: int
    in_flight_requests: int
    in_flight_events: int
    in_flight_ids: frozenset[str]


@dataclass(slots=True)
class _Counters:
    acked_requests: int = 0
    acked_events: int = 0
    transport_errors_while_down: int = 0
    unexpected_transport_errors: int = 0
    unavailable: int = 0
    failures: list[str] = field(default_factory=list)


class LoadDriver:
    """Sends batches from ``clients`` threads until every one of them has been acknowledged.

    The test drives the outage: :meth:`kill_during` marks the server down while it kills it,
    the clients then stop taking new work and park their failed batches, and :meth:`resume`
    lets them retry against the restarted server.
    """

    def __init__(
        self,
        base_url: str,
        site_id: str,
        batches: Sequence[Batch],
        *,
        clients: int,
        request_timeout_s: float = 30.0,
    ) -> None:
        self.base_url = base_url
        self.site_id = site_id
        self.clients = clients
        self.request_timeout_s = request_timeout_s
        self._cond = threading.Condition()
        self._fresh: deque[Batch] = deque(batches)
        self._retry: deque[Batch] = deque()
        # Client index -> the batch it is sending now; "in flight" is exactly this.
        self._sending: dict[int, Batch] = {}
        self._down = False
        self._stop = False
        self._threads: list[threading.Thread] = []
        self.counters = _Counters()
        # id -> how many 200 answers listed it (more than one only for deliberate replays).
        self.acked: dict[str, int] = {}
        self.sent_ids: set[str] = {i for batch in batches for i in batch.ids}

    # --- driving -----------------------------------------------------------------------

    def start(self) -> None:
        for index in range(self.clients):
            thread = threading.Thread(
                target=self._client, args=(index,), name=f"load-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def wait_for_acks(self, requests: int, timeout_s: float) -> bool:
        """Until ``requests`` requests were acknowledged (False on timeout or when all done)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self.counters.acked_requests < requests:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._all_settled():
                    return False
                self._cond.wait(remaining)
        return True

    @contextmanager
    def kill_during(self) -> Iterator[KillSnapshot]:
        """Hold every client still while the caller kills the server.

        A client whose answer arrives meanwhile waits for the lock, so the snapshot is exactly
        the set of requests that had been sent and not yet answered when the signal went out.
        """
        with self._cond:
            self._down = True
            in_flight = list(self._sending.values())
            yield KillSnapshot(
                acked_requests=self.counters.acked_requests,
                acked_events=self.counters.acked_events,
                in_flight_requests=len(in_flight),
                in_flight_events=sum(len(b.events) for b in in_flight),
                in_flight_ids=frozenset(i for b in in_flight for i in b.ids),
            )
            self._cond.notify_all()

    def wait_quiet(self, timeout_s: float) -> bool:
        """Until no request is in flight (after a kill every one of them has failed)."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._sending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def resume(self, base_url: str, replay: Iterable[Batch] = ()) -> None:
        """The server is back at ``base_url``: retry what failed, plus ``replay``.

        ``replay`` holds batches that were already acknowledged, sent again as a client that
        lost the answer would.
        """
        with self._cond:
            self.base_url = base_url
            self._retry.extend(replay)
            self._down = False
            self._cond.notify_all()

    def join(self, timeout_s: float) -> bool:
        """Until every batch is acknowledged; then stop the clients. False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not self._all_settled():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            done = self._all_settled()
            self._stop = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(self.request_timeout_s + 5)
        return done

    def pending_batches(self) -> int:
        with self._cond:
            return len(self._fresh) + len(self._retry) + len(self._sending)

    # --- the clients ---------------------------------------------------------------------

    def _all_settled(self) -> bool:
        return not self._fresh and not self._retry and not self._sending

    def _take(self, index: int) -> Batch | None:
        with self._cond:
            while True:
                if self._stop:
                    return None
                # While the server is down nobody starts a request: failed batches wait.
                if not self._down and (self._retry or self._fresh):
                    batch = self._retry.popleft() if self._retry else self._fresh.popleft()
                    self._sending[index] = batch
                    return batch
                self._cond.wait(0.5)

    def _settle(self, index: int, batch: Batch, outcome: str, body: Any = None) -> None:
        with self._cond:
            del self._sending[index]
            c = self.counters
            if outcome == "acked":
                c.acked_requests += 1
                c.acked_events += len(batch.events)
                for event_id in batch.ids:
                    self.acked[event_id] = self.acked.get(event_id, 0) + 1
            elif outcome == "transport":
                if self._down:
                    c.transport_errors_while_down += 1
                else:
                    c.unexpected_transport_errors += 1
                self._retry.append(batch)
            elif outcome == "unavailable":
                c.unavailable += 1
                self._retry.append(batch)
            else:
                # Anything else is a wrong answer: kept for the assertion, never retried.
                c.failures.append(f"{outcome}: {str(body)[:300]}")
            self._cond.notify_all()

    def _client(self, index: int) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(timeout=self.request_timeout_s, limits=limits) as client:
            while (batch := self._take(index)) is not None:
                self._send(index, client, batch)

    def _send(self, index: int, client: httpx.Client, batch: Batch) -> None:
        batch.attempts += 1
        # A resent batch gets a fresh sent_at, like the tracker's; the event ids stay.
        body = webevent_body(
            self.site_id,
            *batch.events,
            visitor_id=batch.visitor_id,
            session_id=f"{batch.visitor_id}-s",
        )
        try:
            # The address is read per request: after a restart the server may have moved.
            response = client.post(
                f"{self.base_url}/webevent",
                content=orjson.dumps(body),
                headers={"Content-Type": "text/plain"},
            )
        except httpx.TransportError:
            self._settle(index, batch, "transport")
            if not self._down:
                time.sleep(0.05)
            return
        if response.status_code == 503:
            self._settle(index, batch, "unavailable")
            time.sleep(0.05)
            return
        if response.status_code != 200:
            self._settle(index, batch, f"status {response.status_code}", response.text)
            return
        answer = response.json()
        if answer.get("ids") != batch.ids or answer.get("rejected"):
            self._settle(index, batch, "wrong answer", answer)
            return
        self._settle(index, batch, "acked")
