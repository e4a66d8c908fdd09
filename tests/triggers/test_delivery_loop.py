"""Exactly once: two deciders at once, two senders at once, a worker dying mid-send; retries."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from shoptrack.store.db import create_store_engine
from shoptrack.store.tables import trigger_attempts, trigger_candidates
from shoptrack.triggers.decide import DecideCounts, Decider
from shoptrack.triggers.model import Channel, DeliveryResult, Outcome, OutgoingMessage
from shoptrack.triggers.send import CRASH_REASON, SendCounts, Sender
from tests.triggers.conftest import Recorder, Shop


def left_carts(shop: Shop, count: int) -> None:
    shop.configure("abandoned_cart", enabled=True)
    for i in range(count):
        shop.identify(f"v{i}", user_email=f"person{i}@example.com")
        shop.cart(f"v{i}", "p1", guid=f"g{i}")
    shop.drain()
    shop.clock.advance(61)


def at_once(*jobs: Callable[[], Any]) -> list[Any]:
    """Run the jobs in threads released together; their results in order."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int, job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return results


def test_two_deciders_and_two_senders_at_once_make_one_message_each(shop: Shop) -> None:
    left_carts(shop, 12)
    url = shop.services.settings.database_url
    engines = [create_store_engine(url) for _ in range(2)]
    try:
        deciders = [Decider(e, shop.services.keyring, clock=shop.clock) for e in engines]
        counts: list[DecideCounts] = at_once(*(d.run_due for d in deciders))
        assert sum(c.messages for c in counts) == 12
        rows = shop.messages()
        assert len(rows) == 12 and {r.status for r in rows} == {"pending"}
        assert len({(r.contact_id, r.episode_key) for r in rows}) == 12
        senders = [
            Sender(e, shop.services.keyring, {Channel.EMAIL: shop.email}, clock=shop.clock)
            for e in engines
        ]
        sent: list[SendCounts] = at_once(*(s.run_due for s in senders))
    finally:
        for e in engines:
            e.dispose()
    assert sum(c.sent for c in sent) == 12
    assert sorted(m.message_id for m, _ in shop.email.sent) == sorted(r.message_id for r in rows)
    assert {r.status for r in shop.messages()} == {"sent"}


class DiesMidSend:
    """The worker dies after the attempt was recorded, before any outcome."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def send(self, message: OutgoingMessage, attempt: int) -> DeliveryResult:
        raise SystemExit("worker killed")


def attempts_of(shop: Shop, message_id: str) -> list[tuple[int, str | None]]:
    a = trigger_attempts.c
    with shop.services.engine.connect() as conn:
        stmt = select(a.attempt, a.outcome).where(a.message_id == message_id)
        return [(r.attempt, r.outcome) for r in conn.execute(stmt.order_by(a.attempt))]


def test_an_email_whose_send_may_have_happened_is_not_sent_again(shop: Shop) -> None:
    left_carts(shop, 1)
    with pytest.raises(SystemExit):
        shop.engine(email=DiesMidSend(Channel.EMAIL)).tick()
    [row] = shop.messages()
    assert row.status == "sending" and attempts_of(shop, row.message_id) == [(1, None)]
    engine = shop.engine()  # the restarted worker
    engine.tick()
    assert shop.messages()[0].status == "sending"  # may still be in flight elsewhere
    shop.clock.advance(6)
    engine.tick()
    [row] = shop.messages()
    assert (row.status, row.reason) == ("failed", CRASH_REASON)
    assert shop.email.sent == [] and attempts_of(shop, row.message_id) == [(1, "unknown")]
    # Retried by hand (the shop checked that it did not arrive): sent, attempt 2.
    answer = shop.client.post(f"/api/v1/messages/{row.message_id}/retry", headers=shop.headers)
    assert answer.status_code == 200 and answer.json()["message"]["status"] == "pending"
    engine.tick()
    assert [attempt for _, attempt in shop.email.sent] == [2]
    assert shop.messages()[0].status == "sent"


def test_a_webhook_whose_send_may_have_happened_is_sent_again_with_its_id(shop: Shop) -> None:
    shop.configure(
        "abandoned_cart", channel="webhook", webhook_url="https://hooks.example/shoptrack"
    )
    left_carts(shop, 1)
    with pytest.raises(SystemExit):
        shop.engine(webhook=DiesMidSend(Channel.WEBHOOK)).tick()
    shop.clock.advance(6)
    shop.engine().tick()
    [row] = shop.messages()
    [(message, attempt)] = shop.webhook.sent
    assert (message.message_id, attempt) == (row.message_id, 2)  # the same webhook-id
    assert message.webhook_url == "https://hooks.example/shoptrack"
    assert row.status == "sent"
    assert attempts_of(shop, row.message_id) == [(1, "unknown"), (2, "sent")]


def test_temporary_failures_are_retried_with_backoff_then_given_up(shop: Shop) -> None:
    left_carts(shop, 2)
    shop.email.outcomes = [Outcome.RETRY, Outcome.RETRY, Outcome.SENT]
    engine = shop.engine()
    engine.tick()  # first message: retry; second: retry
    pending = [r for r in shop.messages() if r.status == "pending"]
    assert len(pending) == 2
    for row in pending:
        # triggers/retry.py: a minute after the first attempt, less up to 20 % jitter.
        assert 48_000 <= row.next_attempt_at - shop.clock.now <= 60_000
        assert row.last_error == "recorded retry"
    engine.tick()  # not yet due again
    assert len(shop.email.sent) == 2
    shop.clock.advance(1)
    engine.tick()
    assert {r.status for r in shop.messages()} == {"sent"}
    # One that never gets through is given up after 24 hours of attempts.
    shop.email.outcomes = [Outcome.RETRY] * 100
    shop.cart("v0", "p9", guid="later")
    shop.configure("abandoned_cart", cap_days=0)
    shop.drain()
    shop.clock.advance(61)
    engine.tick()
    for _ in range(30):
        shop.clock.advance(60)
        engine.tick()
    last = next(r for r in shop.messages() if r.episode_key == "g:later")
    assert (last.status, last.reason) == ("failed", "gave up after 24 hours of retries")
    assert 10 <= last.attempts <= 16  # 1, 2, 4 … 128 minutes, then every 4 hours


def test_a_channel_without_delivery_leaves_its_messages_pending(shop: Shop) -> None:
    left_carts(shop, 1)
    shop.engine(webhook=Recorder(Channel.WEBHOOK)).tick()
    [row] = shop.messages()
    assert (row.status, row.attempts) == ("pending", 0)
    shop.engine().tick()
    assert shop.messages()[0].status == "sent"


def test_a_permanent_failure_is_not_retried(shop: Shop) -> None:
    left_carts(shop, 1)
    shop.email.outcomes = [Outcome.FAILED]
    engine = shop.engine()
    engine.tick()
    shop.clock.advance(120)
    engine.tick()
    [row] = shop.messages()
    assert (row.status, row.last_error, row.attempts) == ("failed", "recorded failed", 1)
    assert len(shop.email.sent) == 1


def test_an_order_cancels_a_message_not_sent_yet(shop: Shop) -> None:
    left_carts(shop, 1)
    shop.engine(webhook=Recorder(Channel.WEBHOOK)).tick()  # no e-mail delivery: it waits
    assert shop.messages()[0].status == "pending"
    shop.buy("v0", "p1", guid=None, order="o-later")
    shop.drain()
    [row] = shop.messages()
    assert (row.status, row.reason) == ("cancelled", "ordered")
    shop.engine().tick()
    assert shop.email.sent == []


def test_the_sender_looks_for_orders_once_more_before_sending(shop: Shop) -> None:
    left_carts(shop, 1)
    shop.engine(webhook=Recorder(Channel.WEBHOOK)).tick()
    # An order the processor has not read yet (stopped worker): the sender still sees it.
    shop.buy("v0", "p1", guid=None, order="o-unread")
    shop.engine().tick()
    [row] = shop.messages()
    assert (row.status, row.reason) == ("cancelled", "ordered after the decision")
    assert shop.email.sent == []


# Row locks are PostgreSQL's (SQLite has one writer at a time): run there only.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_episode_the_processor_is_changing_is_left_for_the_next_round(shop: Shop) -> None:
    left_carts(shop, 1)
    decider = Decider(shop.services.engine, shop.services.keyring, clock=shop.clock)
    c = trigger_candidates.c
    with shop.services.engine.connect() as other:
        busy = other.begin()
        other.execute(
            update(trigger_candidates).where(c.site_id == shop.site_id).values(updated_at=1)
        )
        counts = decider.run_due()  # does not wait for the other transaction
        busy.rollback()
    assert (counts.due, counts.deferred, counts.messages) == (1, 1, 0)
    assert decider.run_due().messages == 1


KILLED_WORKER = """
import os, signal, sys
from pathlib import Path
from shoptrack.identity.crypto import Keyring
from shoptrack.store.db import create_store_engine
from shoptrack.triggers.model import Channel
from shoptrack.triggers.send import Sender

class KilledMidSend:
    channel = Channel.EMAIL
    def send(self, message, attempt):
        os.kill(os.getpid(), signal.SIGKILL)  # the attempt is committed; the send never ends

url, keys, now = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = create_store_engine(url)
sender = Sender(engine, Keyring.load_or_create(Path(keys)), {Channel.EMAIL: KilledMidSend()},
                clock=lambda: now)
sender.run_due()
"""


def test_a_worker_killed_between_attempt_and_outcome_does_not_send_twice(shop: Shop) -> None:
    left_carts(shop, 1)
    settings = shop.services.settings
    Decider(shop.services.engine, shop.services.keyring, clock=shop.clock).run_due()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_WORKER,
            settings.database_url,
            str(settings.key_file),
            str(shop.clock.now),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    [row] = shop.messages()
    assert row.status == "sending" and attempts_of(shop, row.message_id) == [(1, None)]
    shop.clock.advance(6)
    shop.engine().tick()
    [row] = shop.messages()
    assert (row.status, row.reason) == ("failed", CRASH_REASON)
    assert shop.email.sent == []
