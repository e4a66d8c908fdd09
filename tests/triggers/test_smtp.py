"""SHOPTRACK_SMTP_URL: its three forms, and its password never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoptrack.config import Settings
from shoptrack.errors import ShoptrackError
from shoptrack.triggers.email import EmailDelivery
from shoptrack.triggers.smtp import SmtpServer, parse_smtp_url


def test_the_three_forms() -> None:
    assert parse_smtp_url("smtp://user:p%40ss@mail.example:587") == SmtpServer(
        "mail.example", 587, False, "user", "p@ss"
    )
    assert parse_smtp_url("smtps://u:p@mail.example") == SmtpServer(
        "mail.example", 465, True, "u", "p"
    )
    assert parse_smtp_url("smtp://relay.internal:25") == SmtpServer("relay.internal", 25, False)


@pytest.mark.parametrize("url", ["http://x", "smtp://", "smtp://h:99999", "mail.example"])
def test_a_bad_url_names_the_setting_and_not_its_value(url: str) -> None:
    with pytest.raises(ShoptrackError) as raised:
        parse_smtp_url(url)
    assert raised.value.field == "SHOPTRACK_SMTP_URL"


def test_the_password_is_in_no_repr(tmp_path: Path) -> None:
    secret = "s3cret-Passw0rd"
    url = f"smtp://shop:{secret}@mail.example:587"
    settings = Settings(database_url="sqlite://", key_file=tmp_path / "k", smtp_url=url)
    server = parse_smtp_url(url)
    for shown in (repr(settings), str(settings), repr(server), str(server),
                  settings.model_dump_json()):  # fmt: skip
        assert secret not in shown
    assert "mail.example" in repr(server)
    bad = Settings(database_url="sqlite://", smtp_url=f"http://shop:{secret}@mail.example")
    with pytest.raises(ShoptrackError) as raised:
        EmailDelivery(bad)
    assert raised.value.field == "SHOPTRACK_SMTP_URL" and secret not in str(raised.value)
