"""What the server adds at ingestion: coarse IP, user agent, trusted time, sessions, location."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from shoptrack.collector.enrich import (
    Sessionizer,
    describe_user_agent,
    truncate_ip,
    trusted_time,
)
from shoptrack.config import Settings
from shoptrack.events.location import location_from_url
from shoptrack.store.tables import events
from shoptrack.web.app import create_app
from tests.support.payloads import browser_event, webevent_body

CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)

# --- IP addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("10.1.2.255", "10.1.2.0"),
        (" 198.51.100.9 ", "198.51.100.0"),
        ("2001:db8:abcd:1234:5678::1", "2001:db8:abcd::"),
        ("::ffff:203.0.113.77", "203.0.113.0"),  # IPv4 seen through an IPv6 socket
    ],
)
def test_ip_is_truncated_to_its_network(raw: str, kept: str) -> None:
    assert truncate_ip(raw) == kept


@pytest.mark.parametrize("raw", [None, "", "testclient", "1.2.3.4:8080", "999.1.1.1", "unknown"])
def test_unreadable_ip_is_dropped_not_kept_raw(raw: str | None) -> None:
    assert truncate_ip(raw) is None


@pytest.fixture
def proxied_client(database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """A server behind a reverse proxy that it trusts for the client address."""
    settings = Settings(
        database_url=database_url,
        key_file=tmp_path / "keys",
        commit_interval_ms=1,
        trust_proxy_headers=True,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _stored_rows(client: TestClient) -> list[dict[str, Any]]:
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(events))]


def test_full_client_ip_is_never_stored(proxied_client: TestClient) -> None:
    repo = proxied_client.app.state.services.site_repo  # type: ignore[attr-defined]
    site, _ = repo.create("Shop")
    body = webevent_body(site.site_id, browser_event("MainPage"))
    response = proxied_client.post(
        "/webevent",
        content=orjson.dumps(body),
        headers={"X-Forwarded-For": "203.0.113.77, 10.0.0.1", "User-Agent": CHROME},
    )
    assert response.status_code == 200
    [row] = _stored_rows(proxied_client)
    assert orjson.loads(row["data"])["ip"] == "203.0.113.0"
    assert all("203.0.113.77" not in str(value) for value in row.values())


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(
    client: TestClient, site: tuple[str, str]
) -> None:
    # Otherwise any client could choose the address stored for it.
    body = webevent_body(site[0], browser_event("MainPage"))
    client.post("/webevent", content=orjson.dumps(body), headers={"X-Forwarded-For": "1.2.3.4"})
    [row] = _stored_rows(client)
    assert orjson.loads(row["data"])["ip"] is None  # TestClient's host is "testclient"


# --- user agents ----------------------------------------------------------------------------


def test_browser_user_agent_is_described() -> None:
    described = describe_user_agent(CHROME)
    assert described["browser"] == "Chrome"
    assert described["browser_version"] == "124"
    assert described["os"] == "Mac OS X"
    assert described["is_bot"] is False


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "curl/8.4.0",
        "python-requests/2.31.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0.0.0",
    ],
)
def test_bots_and_scripts_are_flagged(agent: str) -> None:
    assert describe_user_agent(agent)["is_bot"] is True


@pytest.mark.parametrize("agent", ["", "\x00\x01", "x" * 10_000, "Mozilla/5.0 (((((("])
def test_odd_user_agents_are_described_without_error(agent: str) -> None:
    assert isinstance(describe_user_agent(agent)["is_bot"], bool)


# --- location (sc_content) and URLs ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("https://shop.example/p/1?sc_content=19534_r24v435", "19534_r24v435"),
        ("https://shop.example/p/1?utm_source=mail&sc_content=1_r2v3#top", "1_r2v3"),
        ("https://shop.example/p/1?sc_content=", None),
        ("https://shop.example/p/1?xsc_content=1_r2v3", None),
        ("https://shop.example/p/1", None),
        ("http://[broken?sc_content=1_r2v3", None),  # unparseable: no location, no error
        (None, None),
    ],
)
def test_location_comes_from_the_sc_content_parameter(
    url: str | None, location: str | None
) -> None:
    assert location_from_url(url) == location


# --- trusted time ---------------------------------------------------------------------------

RECEIVED = 1_764_000_000_000
FUTURE = 300_000
MAX_AGE = 7 * 86_400_000


def test_no_client_time_means_receive_time() -> None:
    assert trusted_time(None, RECEIVED, 0, FUTURE, MAX_AGE) == RECEIVED


def test_a_plausible_client_time_is_kept() -> None:
    assert trusted_time(RECEIVED - 5000, RECEIVED, 0, FUTURE, MAX_AGE) == RECEIVED - 5000


def test_client_time_within_the_future_bound_is_kept() -> None:
    assert trusted_time(RECEIVED + 1000, RECEIVED, 0, FUTURE, MAX_AGE) == RECEIVED + 1000


def test_client_time_far_in_the_future_is_replaced_by_receive_time() -> None:
    assert trusted_time(RECEIVED + FUTURE + 1, RECEIVED, 0, FUTURE, MAX_AGE) == RECEIVED


def test_client_time_older_than_the_max_age_is_replaced() -> None:
    assert trusted_time(RECEIVED - MAX_AGE - 1, RECEIVED, 0, FUTURE, MAX_AGE) == RECEIVED


def test_server_events_have_no_max_age() -> None:
    # A server may import last month's orders.
    month_ago = RECEIVED - 30 * 86_400_000
    assert trusted_time(month_ago, RECEIVED, 0, FUTURE, None) == month_ago


def test_clock_offset_corrects_a_wrong_browser_clock() -> None:
    # The browser clock is one hour behind: sent_at says an hour earlier than we received it.
    offset = 3_600_000
    client_event_time = RECEIVED - offset - 5000
    assert trusted_time(client_event_time, RECEIVED, offset, FUTURE, MAX_AGE) == RECEIVED - 5000


def test_clock_offset_corrects_a_clock_that_is_ahead() -> None:
    offset = -86_400_000  # a day ahead: uncorrected it would be "far in the future"
    client_event_time = RECEIVED + 86_400_000 - 2000
    assert trusted_time(client_event_time, RECEIVED, offset, FUTURE, MAX_AGE) == RECEIVED - 2000


# --- sessions -------------------------------------------------------------------------------


def test_events_within_the_timeout_share_a_session() -> None:
    sessions = Sessionizer(timeout_ms=1_800_000)
    first = sessions.session_for("s", "v", RECEIVED)
    assert sessions.session_for("s", "v", RECEIVED + 1_799_000) == first
    # The window slides with activity.
    assert sessions.session_for("s", "v", RECEIVED + 3_500_000) == first


def test_quiet_longer_than_the_timeout_starts_a_new_session() -> None:
    sessions = Sessionizer(timeout_ms=1_800_000)
    first = sessions.session_for("s", "v", RECEIVED)
    assert sessions.session_for("s", "v", RECEIVED + 1_800_001) != first


def test_sessions_are_per_site_and_visitor() -> None:
    sessions = Sessionizer(timeout_ms=1_800_000)
    first = sessions.session_for("s", "v", RECEIVED)
    assert sessions.session_for("s", "other", RECEIVED) != first
    assert sessions.session_for("other", "v", RECEIVED) != first


def test_a_late_event_joins_the_open_session() -> None:
    sessions = Sessionizer(timeout_ms=1_800_000)
    first = sessions.session_for("s", "v", RECEIVED)
    assert sessions.session_for("s", "v", RECEIVED - 60_000) == first


def test_the_session_memory_is_bounded() -> None:
    sessions = Sessionizer(timeout_ms=1_800_000, capacity=2)
    first = sessions.session_for("s", "a", RECEIVED)
    sessions.session_for("s", "b", RECEIVED)
    sessions.session_for("s", "c", RECEIVED)  # evicts "a"
    assert sessions.session_for("s", "a", RECEIVED + 1) != first
