"""Segment entries and exits posted, signed, to a real local HTTP receiver (issue 16)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
from sqlalchemy import Engine
from standardwebhooks.webhooks import Webhook

from shoptrack.config import Settings
from shoptrack.identity.crypto import Keyring
from shoptrack.segments.membership import refresh
from shoptrack.segments.repo import change_segment, create_segment, get_segment
from shoptrack.triggers.segment_webhooks import SegmentWebhookSender
from tests.segments.world import HOUR, World
from tests.triggers.test_webhook import receiver

VIEWERS = {"match": {"condition": "event", "event": "viewed"}}


def test_entries_are_posted_signed_once_and_retried_after_a_failure(
    engine: Engine, tmp_path: Path
) -> None:
    world = World(engine)
    with engine.begin() as conn:
        segment = create_segment(conn, world.site_id, "Viewers", VIEWERS)
    settings = Settings(
        database_url="sqlite://",
        key_file=tmp_path / "keys",
        webhook_timeout_s=2,
        webhook_allow_private_hosts=True,
    )  # type: ignore[call-arg]
    sender = SegmentWebhookSender(engine, Keyring.load_or_create(tmp_path / "keys"), settings)
    now = int(time.time() * 1000)
    with receiver(503, 200) as hook:
        with engine.begin() as conn:
            change_segment(conn, world.site_id, segment.segment_id, webhook_url=hook.url)
        world.contact("c1", "v1")
        world.view("v1", "p1", now - HOUR)
        world.view("anonymous", "p1", now - HOUR)
        world.facts()
        with engine.begin() as conn:
            refresh(conn, get_segment(conn, world.site_id, segment.segment_id), now)
        assert sender.deliver_due() == 0  # the receiver answered 503
        with engine.connect() as conn:
            failed = get_segment(conn, world.site_id, segment.segment_id)
        assert failed.webhook_error is not None and "503" in failed.webhook_error
        assert failed.webhook_retry_at is not None and failed.webhook_retry_at > now
        assert sender.deliver_due() == 0  # not due again yet
        with engine.begin() as conn:  # the backoff has passed
            conn.exec_driver_sql("UPDATE segments SET webhook_retry_at = 0")
        assert sender.deliver_due() == 1
        assert sender.deliver_due() == 0  # nothing new: nothing posted
    assert len(hook.requests) == 2
    (first_headers, _first_body), (headers, body) = hook.requests
    assert first_headers["webhook-id"] == headers["webhook-id"]  # the same batch, retried
    Webhook(sender.secrets.secret_for(world.site_id)).verify(body, headers)
    sent = orjson.loads(body)
    assert sent["type"] == "segment.changed"
    assert sent["data"]["segment_id"] == segment.segment_id
    assert [(c["contact_id"], c["change"]) for c in sent["data"]["changes"]] == [("c1", "entered")]
    with engine.connect() as conn:
        done = get_segment(conn, world.site_id, segment.segment_id)
    assert done.webhook_error is None and done.webhook_cursor >= 1
