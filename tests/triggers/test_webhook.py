"""Webhooks to a real local HTTP receiver that checks the Standard Webhooks signature."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from sqlalchemy import Engine
from standardwebhooks.webhooks import Webhook
from typer.testing import CliRunner

from shoptrack.cli.main import app
from shoptrack.config import Settings
from shoptrack.identity.crypto import Keyring
from shoptrack.reports.ids import TriggerRef, parse_trigger_content
from shoptrack.store.site_settings import SiteSettings, read_settings
from shoptrack.store.sites_repo import SiteRepository
from shoptrack.triggers.model import Channel, Outcome, Rule
from shoptrack.triggers.webhook import WebhookDelivery
from shoptrack.triggers.webhook_secret import WebhookSecrets
from tests.triggers.messages import cart_message
from tests.triggers.smtp_server import silent_server


@dataclass
class Receiver:
    statuses: list[int]  # answered in order; the last one repeats
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@contextmanager
def receiver(*statuses: int) -> Iterator[Receiver]:
    state = Receiver(list(statuses))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            state.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = state.statuses.pop(0) if len(state.statuses) > 1 else state.statuses[0]
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/shoptrack?token=abc"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def site_id(engine: Engine) -> str:
    created, _key = SiteRepository(engine).create("Hook shop")
    return created.site_id


def _delivery(engine: Engine, tmp_path: Path, **changes: object) -> WebhookDelivery:
    values: dict[str, object] = {"webhook_timeout_s": 2, **changes}
    settings = Settings(database_url="sqlite://", key_file=tmp_path / "keys", **values)  # type: ignore[arg-type]
    keyring = Keyring.load_or_create(tmp_path / "keys")
    return WebhookDelivery(settings, WebhookSecrets(engine, keyring))


def test_a_signed_webhook_is_retried_on_503_and_sent_on_200(
    engine: Engine, site_id: str, tmp_path: Path
) -> None:
    delivery = _delivery(engine, tmp_path, webhook_allow_private_hosts=True)
    with receiver(503, 503, 200) as hook:
        message = cart_message(
            site_id=site_id,
            channel=Channel.WEBHOOK,
            webhook_url=hook.url,
            unsubscribe_url="https://t.example/unsubscribe/x.y",
        )
        outcomes = [delivery.send(message, attempt).outcome for attempt in (1, 2, 3)]
    assert outcomes == [Outcome.RETRY, Outcome.RETRY, Outcome.SENT]
    assert len(hook.requests) == 3

    secret = delivery.secrets.secret_for(site_id)
    assert secret.startswith("whsec_")
    verifier = Webhook(secret)
    for headers, body in hook.requests:
        assert headers["webhook-id"] == message.message_id
        assert headers["content-type"] == "application/json"
        verifier.verify(body, headers)  # raises when the signature or timestamp is wrong
    headers, body = hook.requests[-1]
    tampered = body.replace(b"Luma", b"Evil") if b"Luma" in body else body + b" "
    with pytest.raises(Exception, match="signature"):
        verifier.verify(tampered, headers)

    sent = orjson.loads(body)
    assert sent["type"] == "trigger.abandoned_cart"
    assert sent["timestamp"].endswith("Z")
    data = sent["data"]
    assert data["message_id"] == message.message_id and data["site_id"] == site_id
    assert data["rule"] == "abandoned_cart" and data["contact_id"] == "c-42"
    assert data["email"] == "buyer@example.com"
    assert data["unsubscribe_url"] == "https://t.example/unsubscribe/x.y"
    assert [p["product_id"] for p in data["products"]] == ["24-MB02", "24-MB03"]
    assert data["products"][1]["url"] is None  # javascript: is never passed on
    assert [p["product_id"] for p in data["recommendations"]] == ["24-UG01"]
    query = parse_qs(urlsplit(data["products"][0]["url"]).query)
    assert parse_trigger_content(query["sc_content"][0]) == TriggerRef(
        "abandoned_cart", message.message_id
    )
    assert query["utm_medium"] == ["webhook"] and query["utm_campaign"] == ["abandoned_cart"]


def test_outcomes_429_retries_other_4xx_and_redirects_fail(
    engine: Engine, site_id: str, tmp_path: Path
) -> None:
    delivery = _delivery(engine, tmp_path, webhook_allow_private_hosts=True)
    for status, expected in ((429, Outcome.RETRY), (400, Outcome.FAILED), (410, Outcome.FAILED),
                             (302, Outcome.FAILED), (204, Outcome.SENT)):  # fmt: skip
        with receiver(status) as hook:
            message = cart_message(site_id=site_id, rule=Rule.PRICE_DROP, webhook_url=hook.url)
            result = delivery.send(message, 1)
        assert result.outcome == expected, (status, result.detail)
        assert str(status) in result.detail
        assert "token=abc" not in result.detail  # the URL's query may be a secret


def test_a_receiver_that_does_not_answer_in_time_is_retried(
    engine: Engine, site_id: str, tmp_path: Path
) -> None:
    delivery = _delivery(engine, tmp_path, webhook_allow_private_hosts=True, webhook_timeout_s=0.5)
    with silent_server() as port:
        message = cart_message(site_id=site_id, webhook_url=f"http://127.0.0.1:{port}/hook")
        result = delivery.send(message, 1)
    assert result.outcome == Outcome.RETRY and "timed out" in result.detail


def test_private_addresses_are_refused_unless_allowed(
    engine: Engine, site_id: str, tmp_path: Path
) -> None:
    delivery = _delivery(engine, tmp_path)
    with receiver(200) as hook:
        for url in (hook.url, hook.url.replace("127.0.0.1", "localhost")):
            result = delivery.send(cart_message(site_id=site_id, webhook_url=url), 1)
            assert result.outcome == Outcome.FAILED
            assert "private or local address" in result.detail
            assert "SHOPTRACK_WEBHOOK_ALLOW_PRIVATE_HOSTS" in result.detail
    assert hook.requests == []
    not_http = delivery.send(cart_message(site_id=site_id, webhook_url="file:///etc/passwd"), 1)
    assert not_http.outcome == Outcome.FAILED


def test_the_site_secret_is_made_once_kept_encrypted_and_hidden_from_the_settings_api(
    engine: Engine, site_id: str, tmp_path: Path
) -> None:
    keyring = Keyring.load_or_create(tmp_path / "keys")
    first = WebhookSecrets(engine, keyring).secret_for(site_id)
    again = WebhookSecrets(engine, keyring).secret_for(site_id)  # another worker
    assert first == again
    assert SiteSettings(engine).get(site_id) == {}
    with engine.connect() as conn:
        stored = read_settings(conn, site_id)["_webhook_secret"]
    assert first.removeprefix("whsec_") not in stored
    # A key rotation adds a data key; the secret does not depend on the data keys.
    rotated = keyring.with_new_key()
    assert WebhookSecrets(engine, rotated).secret_for(site_id) == first


def test_the_cli_prints_the_secret_the_deliveries_sign_with(
    engine: Engine, site_id: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPTRACK_KEY_FILE", str(tmp_path / "keys"))
    db = ["--database-url", database_url]
    out = CliRunner().invoke(app, ["sites", "webhook-secret", site_id, *db])
    assert out.exit_code == 0, out.output
    printed = orjson.loads(out.stdout)["webhook_secret"]
    keyring = Keyring.load_or_create(tmp_path / "keys")
    assert printed == WebhookSecrets(engine, keyring).secret_for(site_id)
    missing = CliRunner().invoke(app, ["sites", "webhook-secret", "no-such-site", *db])
    assert missing.exit_code == 1
