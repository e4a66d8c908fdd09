"""Trigger e-mails through a real local SMTP server (aiosmtpd), parsed as a client would."""

from __future__ import annotations

import asyncio
import re
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from shoptrack.config import Settings
from shoptrack.reports.ids import TriggerRef, parse_container, parse_trigger_content
from shoptrack.services import Services
from shoptrack.triggers.email import EmailDelivery
from shoptrack.triggers.model import Channel, Outcome, Rule
from shoptrack.triggers.unsubscribe import is_unsubscribed, make_unsubscribe_url
from tests.support.server import free_port
from tests.triggers.messages import HOSTILE_NAME, cart_message
from tests.triggers.smtp_server import PASSWORD, USER, certificates, silent_server, smtp_server

FROM = "shop@mail.example"


def _settings(tmp_path: Path, url: str, **changes: object) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'x.db'}",
        key_file=tmp_path / "keys",
        smtp_url=SecretStr(url),
        mail_from=FROM,
        **changes,  # type: ignore[arg-type]
    )


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(str(values["href"]))
        if tag == "img":
            self.images.append(values)


def _parts(received_message):  # type: ignore[no-untyped-def]
    assert received_message.get_content_type() == "multipart/alternative"
    text = received_message.get_body(("plain",)).get_content()
    html = received_message.get_body(("html",)).get_content()
    return text, html


def test_a_cart_email_carries_products_links_recommendations_and_one_click_unsubscribe(
    client: TestClient, site: tuple[str, str], tmp_path: Path
) -> None:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    site_id, _ = site
    unsubscribe_url = make_unsubscribe_url(
        "http://testserver", services.keyring, site_id, "c-42", Channel.EMAIL
    )
    message = cart_message(site_id=site_id, unsubscribe_url=unsubscribe_url)
    with smtp_server() as (port, server):
        delivery = EmailDelivery(_settings(tmp_path, f"smtp://127.0.0.1:{port}"))
        result = delivery.send(message, 1)
    assert result.outcome == Outcome.SENT, result.detail
    [received] = server.received
    assert received.recipients == ["buyer@example.com"] and received.sender == FROM
    mail = received.message()
    assert mail["Message-ID"] == f"<{message.message_id}@mail.example>"
    assert mail["From"].addresses[0].display_name == "Luma Shop"
    assert "cart" in mail["Subject"]
    assert mail["List-Unsubscribe"] == f"<{unsubscribe_url}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    text, html = _parts(mail)
    # Products (price now and then), recommendations, in both parts.
    for part in (text, html):
        assert "129.00 EUR" in part and "153.00 EUR" in part
        assert "Plain Tote" in part and "Yoga Mat" in part
    # A hostile product name is text in the HTML part, never markup: no script element, the
    # name escaped in the text and quoted in attributes (the alt text reads back as sent).
    links = Links()
    links.feed(html)
    assert "script" not in links.tags
    assert "&lt;script&gt;alert(" in html
    assert HOSTILE_NAME in text
    # CSS is inlined into the table layout; images have alt text.
    assert 'style="' in html and "<table" in html
    assert links.images and all(img.get("alt") for img in links.images)
    assert links.images[0]["alt"] == HOSTILE_NAME

    product_links = [h for h in links.hrefs if "shop.example" in h]
    assert {urlsplit(h).path for h in product_links} == {"/bag", "/mat"}  # javascript: dropped
    assert not any(h.startswith("javascript") for h in links.hrefs)
    for href in product_links:
        query = parse_qs(urlsplit(href).query)
        [content] = query["sc_content"]
        assert parse_trigger_content(content) == TriggerRef("abandoned_cart", message.message_id)
        assert parse_container(content) is None  # never counted as a recommendation block
        assert query["utm_source"] == ["shoptrack"]
        assert query["utm_medium"] == ["email"]
        assert query["utm_campaign"] == ["abandoned_cart"]
    assert parse_qs(urlsplit(product_links[0]).query)["color"] == ["red"]
    assert product_links[0] in text

    # The footer link opens a confirmation page; the header's one-click POST unsubscribes.
    assert unsubscribe_url in links.hrefs and unsubscribe_url in text
    path = urlsplit(unsubscribe_url).path
    page = client.get(path)
    assert page.status_code == 200 and "<form" in page.text
    assert not is_unsubscribed(services.engine, site_id, "c-42", Channel.EMAIL)
    done = client.post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200
    assert is_unsubscribed(services.engine, site_id, "c-42", Channel.EMAIL)


def test_every_rule_has_a_default_template(tmp_path: Path) -> None:
    with smtp_server() as (port, server):
        delivery = EmailDelivery(_settings(tmp_path, f"smtp://127.0.0.1:{port}"))
        for rule in Rule:
            result = delivery.send(cart_message(rule=rule, extra={"query": "<b>q</b>"}), 1)
            assert result.outcome == Outcome.SENT, (rule, result.detail)
    subjects = {r.message()["Subject"] for r in server.received}
    assert len(subjects) == len(Rule)
    for received in server.received:
        _text, html = _parts(received.message())
        assert "<b>q</b>" not in html


def test_starttls_and_login_when_the_server_offers_and_requires_them(tmp_path: Path) -> None:
    certs = certificates()
    password = PASSWORD.replace("@", "%40").replace(":", "%3A").replace("/", "%2F")
    with smtp_server(starttls=certs.server, auth=True) as (port, server):
        url = f"smtp://{USER}:{password}@127.0.0.1:{port}"
        delivery = EmailDelivery(_settings(tmp_path, url), tls_context=certs.client)
        sent = delivery.send(cart_message(), 1)
        assert sent.outcome == Outcome.SENT
        assert sent.detail == f"accepted by 127.0.0.1:{port}"  # no login in the record
        [received] = server.received
        assert received.tls and received.authenticated

        wrong = EmailDelivery(
            _settings(tmp_path, f"smtp://{USER}:nope@127.0.0.1:{port}"), tls_context=certs.client
        )
        result = wrong.send(cart_message(), 1)
        # The operator's settings, not the message: retried once they are mended.
        assert result.outcome == Outcome.RETRY and "login refused" in result.detail
        assert "nope" not in result.detail and PASSWORD not in result.detail


# The server below is insecure on purpose, and aiosmtpd says so.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_password_never_crosses_a_connection_without_tls(tmp_path: Path) -> None:
    # A server (or a man in the middle) that offers no STARTTLS but takes a plain login.
    with smtp_server(auth=True, auth_require_tls=False) as (port, server):
        url = f"smtp://{USER}:secret@127.0.0.1:{port}"
        result = EmailDelivery(_settings(tmp_path, url)).send(cart_message(), 1)
    assert result.outcome == Outcome.RETRY and "STARTTLS" in result.detail
    assert "secret" not in result.detail
    assert server.received == []


def test_starttls_with_an_untrusted_certificate_is_retried_not_sent_in_clear(
    tmp_path: Path,
) -> None:
    certs = certificates()
    with smtp_server(starttls=certs.server) as (port, server):
        delivery = EmailDelivery(_settings(tmp_path, f"smtp://127.0.0.1:{port}"))
        result = delivery.send(cart_message(), 1)
    assert result.outcome == Outcome.RETRY
    assert server.received == []


def test_smtps_is_tls_from_the_first_byte(tmp_path: Path) -> None:
    certs = certificates()
    with smtp_server(implicit_tls=certs.server) as (port, server):
        delivery = EmailDelivery(
            _settings(tmp_path, f"smtps://127.0.0.1:{port}"), tls_context=certs.client
        )
        assert delivery.send(cart_message(), 1).outcome == Outcome.SENT
    [received] = server.received
    assert received.message()["Subject"]


def test_outcomes_a_refused_recipient_fails_a_busy_one_or_a_dead_server_is_retried(
    tmp_path: Path,
) -> None:
    with smtp_server() as (port, _server):
        delivery = EmailDelivery(_settings(tmp_path, f"smtp://127.0.0.1:{port}"))
        refused = delivery.send(cart_message(email="refuse5@example.com"), 1)
        busy = delivery.send(cart_message(email="refuse4@example.com"), 1)
    assert refused.outcome == Outcome.FAILED and "550" in refused.detail
    assert busy.outcome == Outcome.RETRY and "451" in busy.detail
    # The server's text quotes the address: the attempt's record must not.
    assert "refuse5@example.com" not in refused.detail

    closed = EmailDelivery(_settings(tmp_path, f"smtp://127.0.0.1:{free_port()}"))
    assert closed.send(cart_message(), 1).outcome == Outcome.RETRY

    with silent_server() as port:
        slow = EmailDelivery(_settings(tmp_path, f"smtp://127.0.0.1:{port}", smtp_timeout_s=0.5))
        timed_out = slow.send(cart_message(), 1)
    assert timed_out.outcome == Outcome.RETRY and "timed out" in timed_out.detail


def test_without_a_server_an_address_or_a_known_template_nothing_is_sent(tmp_path: Path) -> None:
    plain = Settings(database_url="sqlite://", key_file=tmp_path / "keys")
    assert EmailDelivery(plain).send(cart_message(), 1).outcome == Outcome.FAILED
    with smtp_server() as (port, server):
        delivery = EmailDelivery(_settings(tmp_path, f"smtp://127.0.0.1:{port}"))
        assert delivery.send(cart_message(email=None), 1).outcome == Outcome.FAILED
        unknown = delivery.send(cart_message(template="../../etc/passwd"), 1)
        assert unknown.outcome == Outcome.FAILED and "template" in unknown.detail
        injected = delivery.send(cart_message(email="a@b.c\r\nBcc: x@y.z"), 1)
        assert injected.outcome == Outcome.FAILED
    assert server.received == []
    assert re.search(r"x@y\.z", injected.detail) is None


def test_a_send_from_a_thread_that_already_runs_an_event_loop_still_goes_out(
    tmp_path: Path,
) -> None:
    with smtp_server() as (port, server):
        delivery = EmailDelivery(_settings(tmp_path, f"smtp://127.0.0.1:{port}"))

        outcomes: list[Outcome] = []

        async def inside_a_loop() -> None:
            outcomes.append(delivery.send(cart_message(), 1).outcome)  # blocking on purpose

        # A thread of its own: this one may already run a loop (Playwright's sync API does).
        thread = threading.Thread(target=asyncio.run, args=(inside_a_loop(),))
        thread.start()
        thread.join(30)
        assert outcomes == [Outcome.SENT]
    assert len(server.received) == 1
