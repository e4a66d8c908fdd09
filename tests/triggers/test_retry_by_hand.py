"""A message retried by hand (API, dashboard): failed or given up → pending, attempts kept."""

from __future__ import annotations

import pytest

from shoptrack.errors import Conflict, NotFound
from shoptrack.triggers import messages
from shoptrack.triggers.model import Outcome
from tests.triggers.conftest import Shop
from tests.triggers.test_delivery_loop import attempts_of, left_carts


def test_a_message_given_up_after_24_hours_is_sent_again_by_hand(shop: Shop) -> None:
    left_carts(shop, 1)
    shop.email.outcomes = [Outcome.RETRY] * 100
    engine = shop.engine()
    engine.tick()
    for _ in range(30):
        shop.clock.advance(60)
        engine.tick()
    [row] = shop.messages()
    assert (row.status, row.reason) == ("failed", "gave up after 24 hours of retries")
    given_up_after = row.attempts

    retried = messages.retry_message(
        shop.services.engine, shop.site_id, row.message_id, shop.clock.now
    )
    assert (retried["status"], retried["reason"]) == ("pending", "retried by hand")
    assert retried["attempts"] == given_up_after  # the attempts so far are kept
    assert len(retried["attempt_log"]) == given_up_after
    shop.email.outcomes = []
    engine.tick()  # due at once: the next round sends it
    [row] = shop.messages()
    assert (row.status, row.attempts) == ("sent", given_up_after + 1)
    assert attempts_of(shop, row.message_id)[-1] == (given_up_after + 1, "sent")


def test_a_permanent_failure_is_retried_once_by_hand(shop: Shop) -> None:
    left_carts(shop, 1)
    shop.email.outcomes = [Outcome.FAILED, Outcome.FAILED]
    engine = shop.engine()
    engine.tick()
    [row] = shop.messages()
    assert (row.status, row.attempts) == ("failed", 1)
    messages.retry_message(shop.services.engine, shop.site_id, row.message_id, shop.clock.now)
    engine.tick()
    # A second permanent failure is final again: no automatic retry after a hand one.
    [row] = shop.messages()
    assert (row.status, row.attempts) == ("failed", 2)
    assert attempts_of(shop, row.message_id) == [(1, "failed"), (2, "failed")]


def test_only_failed_messages_of_the_site_can_be_retried(shop: Shop) -> None:
    left_carts(shop, 1)
    shop.engine().tick()
    [row] = shop.messages()
    assert row.status == "sent"
    with pytest.raises(Conflict):
        messages.retry_message(shop.services.engine, shop.site_id, row.message_id, 0)
    with pytest.raises(NotFound):
        messages.retry_message(shop.services.engine, "other-site", row.message_id, 0)
