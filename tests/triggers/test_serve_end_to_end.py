"""A real ``shoptrack serve``, its worker and a local SMTP server, waiting the real minute.

The one trigger test that waits for time to pass (every other one moves a clock): it checks
what only the real processes can, that ``serve`` starts a worker whose due queue sends a due
message on its own, within the promised 15 seconds of its due time, to the right person
only. Three shoppers leave a cart: one identified, one identified who then buys, one never
identified. Exactly one e-mail arrives, for the first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from shoptrack.store.db import create_store_engine
from shoptrack.store.tables import trigger_candidates
from shoptrack.triggers.schedule import OPEN
from tests.support.payloads import browser_event, webevent_body
from tests.support.server import ServerProcess
from tests.triggers.conftest import FIREFOX
from tests.triggers.smtp_server import Collector, smtp_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

FROM = "shop@mail.example"
DELAY_S = 60  # the shortest delay a rule takes
TICK_S = 1.0  # the worker's due-queue round (SHOPTRACK_TRIGGERS_TICK_INTERVAL_S)
PROMISED_S = 15  # a due message is sent within this many seconds of its due time


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServerProcess, Collector]]:
    with smtp_server() as (smtp_port, mailbox):
        server = ServerProcess(
            f"sqlite:///{tmp_path / 'shoptrack.db'}",
            tmp_path,
            env={
                "SHOPTRACK_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
                "SHOPTRACK_MAIL_FROM": FROM,
                "SHOPTRACK_TRIGGERS_TICK_INTERVAL_S": str(TICK_S),
                "SHOPTRACK_PROCESSOR_POLL_INTERVAL_S": "0.2",
            },
        )
        server.extra_env["SHOPTRACK_PUBLIC_URL"] = server.url
        server.start()
        try:
            yield server, mailbox
        finally:
            server.stop()


def create_site(server: ServerProcess) -> tuple[str, str]:
    """``shoptrack sites create``, as a shop owner would."""
    done = subprocess.run(
        [sys.executable, "-m", "shoptrack", "sites", "create", "Luma Shop"],
        env={**os.environ, "SHOPTRACK_DATABASE_URL": server.database_url},
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    created = orjson.loads(done.stdout)
    return str(created["site_id"]), str(created["api_key"])


class Visitor:
    def __init__(self, server: ServerProcess, site_id: str, name: str) -> None:
        self.url = f"{server.url}/webevent"
        self.site_id = site_id
        self.name = name

    def send(self, name: str, payload: dict[str, Any]) -> None:
        body = webevent_body(
            self.site_id,
            browser_event(name, payload),
            visitor_id=f"visitor-{self.name}",
            session_id=f"session-{self.name}",
        )
        headers = {"User-Agent": FIREFOX, "Content-Type": "text/plain"}
        answer = httpx.post(self.url, content=orjson.dumps(body), headers=headers, timeout=10)
        assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text

    def identify(self, email: str) -> None:
        self.send("CustomerData", {"CustomerData": {"user_email": email}})

    def cart(self, guid: str, *keys: str) -> None:
        lines = [{"productKey": k, "price": "25", "quantity": "1"} for k in keys]
        self.send("StatusCart", {"StatusCart": lines, "GUID": guid})

    def buy(self, guid: str, *keys: str) -> None:
        lines = [{"productKey": k, "price": "25", "quantity": "1"} for k in keys]
        self.send("PurchasedItems", {"PurchasedItems": lines, "GUID": guid, "OrderNumber": "A-1"})


def open_episodes(database_url: str, site_id: str) -> dict[str, tuple[str, str | None]]:
    """Each visitor's cart episode: (state, reason), read from the store."""
    engine = create_store_engine(database_url)
    try:
        c = trigger_candidates.c
        with engine.connect() as conn:
            rows = conn.execute(
                select(c.visitor_id, c.state, c.reason).where(
                    c.site_id == site_id, c.rule == "abandoned_cart"
                )
            ).all()
    finally:
        engine.dispose()
    return {str(r.visitor_id): (str(r.state), r.reason) for r in rows}


def contact_id(api: httpx.Client, email: str) -> str:
    answer = api.get("/api/v1/contacts", params={"email": email})
    assert answer.status_code == 200, answer.text
    [contact] = answer.json()["contacts"]
    return str(contact["id"])


def poll(check: Any, timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def test_serve_sends_one_abandoned_cart_email_after_the_real_delay(
    served: tuple[ServerProcess, Collector],
) -> None:
    server, mailbox = served
    site_id, key = create_site(server)
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"})
    answer = api.patch(
        "/api/v1/triggers/abandoned_cart", json={"enabled": True, "delay_seconds": DELAY_S}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["rule"]["delay_seconds"] == DELAY_S

    buyer = Visitor(server, site_id, "buyer")
    buyer.identify("buyer@example.com")
    buyer.cart("g-buyer", "24-MB01")
    anonymous = Visitor(server, site_id, "anonymous")
    anonymous.cart("g-anonymous", "24-MB01", "24-UG06")
    leaver = Visitor(server, site_id, "leaver")
    leaver.identify("leaver@example.com")
    leaver.cart("g-leaver", "24-MB04")
    left_at = time.time()  # the leaver's cart is the last: due last
    buyer.buy("g-buyer", "24-MB01")

    poll(lambda: mailbox.received, DELAY_S + PROMISED_S + 5, "the abandoned cart e-mail", 0.2)
    lag = time.time() - (left_at + DELAY_S)
    assert lag <= PROMISED_S, f"sent {lag:.1f} s after its due time"
    # Every episode is over once the leaver's is: nothing else can be sent.
    episodes = poll(
        lambda: (
            (found := open_episodes(server.database_url, site_id))
            and all(state != OPEN for state, _ in found.values())
            and found
        ),
        10,
        "every cart episode to end",
    )
    assert episodes == {
        "visitor-leaver": ("done", "pending"),  # its message's state when decided
        "visitor-buyer": ("done", "ordered"),
        "visitor-anonymous": ("done", "anonymous: the visitor is not linked to a contact"),
    }
    [mail] = mailbox.received
    assert mail.recipients == ["leaver@example.com"] and mail.sender == FROM
    # Its one-click unsubscribe reaches this server (SHOPTRACK_PUBLIC_URL), without a key.
    unsubscribe = mail.message()["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith(f"{server.url}/unsubscribe/")
    one_click = httpx.post(
        unsubscribe,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200

    leaver_id = contact_id(api, "leaver@example.com")
    buyer_id = contact_id(api, "buyer@example.com")
    messages = poll(
        lambda: (
            (found := api.get("/api/v1/messages").json()["messages"])
            and found[0]["status"] == "sent"
            and found
        ),
        10,
        "the message recorded as sent",
    )
    assert [(m["contact_id"], m["status"], m["attempts"]) for m in messages] == [
        (leaver_id, "sent", 1)
    ]
    assert messages[0]["products"][0]["product_id"] == "24-MB04"
    bought = api.get("/api/v1/messages", params={"contact_id": buyer_id})
    assert bought.status_code == 200 and bought.json()["messages"] == []
    api.close()
