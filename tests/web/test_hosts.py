"""Only trusted Host headers are answered; what the server writes back never follows the Host.

Issue 13 point 7: ``Host: evil.example`` got a 307 to http://evil.example/… and a tracker
posting to http://evil.example/webevent, which a shared cache could serve to every shopper.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from shoptrack.config import Settings
from shoptrack.web.app import create_app
from shoptrack.web.hosts import TrustedHosts

PUBLIC = "https://track.shop.example"
EVIL = {"Host": "evil.example"}


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'shoptrack.db'}",
        key_file=tmp_path / "shoptrack.keys",
        commit_interval_ms=1,
        **values,
    )


def _serve(settings: Settings) -> Iterator[tuple[TestClient, str, str]]:
    with TestClient(create_app(settings)) as client:
        repo = client.app.state.services.site_repo  # type: ignore[attr-defined]
        site, key = repo.create("Host shop")
        yield client, site.site_id, key


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, str, str]]:
    yield from _serve(_settings(tmp_path))


@pytest.fixture
def public(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, str, str]]:
    """The production default: no SHOPTRACK_TRUSTED_HOSTS, a public URL."""
    monkeypatch.delenv("SHOPTRACK_TRUSTED_HOSTS")
    yield from _serve(_settings(tmp_path, public_url=PUBLIC))


def _assert_host_refused(response: Any, header: str = "Host") -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    error = orjson.loads(response.content)["error"]
    assert error["code"] == "invalid_value" and error["field"] == header
    assert "evil.example" in error["message"]


def test_an_untrusted_host_is_refused_on_every_kind_of_path(
    served: tuple[TestClient, str, str],
) -> None:
    client, site_id, key = served
    event = [{"name": "PageView", "payload": {}}]
    auth = {"Authorization": f"Bearer {key}"}
    _assert_host_refused(client.post(f"/webevent?site={site_id}", json=event, headers=EVIL))
    _assert_host_refused(client.post("/api/v2", json={}, headers={**EVIL, **auth}))
    _assert_host_refused(client.get("/api/v1/events", headers={**EVIL, **auth}))
    _assert_host_refused(client.get("/api/v1/events/", headers={**EVIL, **auth}))
    _assert_host_refused(client.get(f"/scripts/{site_id}.js", headers=EVIL))
    _assert_host_refused(client.get("/healthz", headers=EVIL))
    _assert_host_refused(client.options("/webevent", headers={**EVIL, "Origin": "https://x.y"}))


def test_a_trusted_host_with_a_port_gets_its_own_origin_and_a_host_keyed_cache_entry(
    served: tuple[TestClient, str, str],
) -> None:
    client, site_id, _ = served
    response = client.get(f"/scripts/{site_id}.js", headers={"Host": "LocalHost:8000"})
    assert response.status_code == 200
    assert 'var ENDPOINT="http://LocalHost:8000/webevent"' in response.text
    assert "Host" in [v.strip() for v in response.headers["vary"].split(",")]


def test_slash_redirects_carry_a_path_not_the_host(served: tuple[TestClient, str, str]) -> None:
    client, _, key = served
    response = client.get(
        "/api/v1/events/?limit=5",
        headers={"Authorization": f"Bearer {key}"},
        follow_redirects=False,
    )
    assert response.status_code == 307
    assert response.headers["location"] == "/api/v1/events?limit=5"
    unknown = client.get("/no/such/path/", follow_redirects=False)
    assert unknown.status_code == 404 and orjson.loads(unknown.content)["error"]["code"]


def test_with_a_public_url_redirects_and_the_tracker_use_it_whatever_the_host(
    public: tuple[TestClient, str, str],
) -> None:
    client, site_id, key = public
    for host in ("track.shop.example", "127.0.0.1:8000", "localhost"):
        script = client.get(f"/scripts/{site_id}.js", headers={"Host": host})
        assert script.status_code == 200, host
        assert f'var ENDPOINT="{PUBLIC}/webevent"' in script.text
        assert "Host" not in script.headers["vary"]
        redirect = client.get(
            "/api/v1/events/",
            headers={"Host": host, "Authorization": f"Bearer {key}"},
            follow_redirects=False,
        )
        assert redirect.status_code == 307
        assert redirect.headers["location"] == f"{PUBLIC}/api/v1/events"
    # The test client's own name is not one of the production defaults.
    _assert_host_refused_named(client.get("/healthz"), "testserver")
    _assert_host_refused(client.get(f"/scripts/{site_id}.js", headers=EVIL))


def _assert_host_refused_named(response: Any, host: str) -> None:
    assert response.status_code == 400
    assert host in orjson.loads(response.content)["error"]["message"]


def test_a_forwarded_host_must_be_trusted_too(tmp_path: Path) -> None:
    settings = _settings(tmp_path, trust_proxy_headers=True)
    for client, site_id, _ in _serve(settings):
        forged = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
        _assert_host_refused(
            client.get(f"/scripts/{site_id}.js", headers=forged), "X-Forwarded-Host"
        )
        proxied = {"X-Forwarded-Host": "localhost", "X-Forwarded-Proto": "https"}
        response = client.get(f"/scripts/{site_id}.js", headers=proxied)
        assert 'var ENDPOINT="https://localhost/webevent"' in response.text


def test_patterns_match_names_and_subdomains_not_lookalikes() -> None:
    hosts = TrustedHosts(["shop.example", "*.myshop.com", "[::1]", "10.0.0.5"])
    for host in ("shop.example", "SHOP.example:443", "a.myshop.com", "x.y.myshop.com:8080"):
        assert hosts.allows(host), host
    assert hosts.allows("[::1]:8000") and hosts.allows("10.0.0.5:80")
    for host in (
        "myshop.com",
        "evilmyshop.com",
        "evil.example",
        "",
        "[::2]",
        "[::1",
        "shop.examplex",
    ):
        assert not hosts.allows(host), host
    assert TrustedHosts(["*"]).allows("anything.at.all")


def test_the_default_trusts_the_public_url_the_bind_host_and_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SHOPTRACK_TRUSTED_HOSTS")
    assert Settings().trusted_host_patterns() == {"localhost", "127.0.0.1", "[::1]"}
    bound = Settings(host="192.0.2.7", public_url="https://Track.Shop.example:8443/base")
    assert bound.trusted_host_patterns() == {
        "localhost",
        "127.0.0.1",
        "[::1]",
        "192.0.2.7",
        "track.shop.example",
    }
    assert "0.0.0.0" not in Settings(host="0.0.0.0").trusted_host_patterns()
    assert "[::1]" in Settings(host="::1").trusted_host_patterns()
    listed = Settings(trusted_hosts=" Shop.example, *.myshop.com ,::1")
    assert listed.trusted_host_patterns() == {"shop.example", "*.myshop.com", "[::1]"}


def test_any_host_needs_a_public_url_and_patterns_are_checked() -> None:
    with pytest.raises(ValidationError, match="PUBLIC_URL"):
        Settings(trusted_hosts="*")
    assert Settings(trusted_hosts="*", public_url=PUBLIC).trusted_host_patterns() == {"*"}
    for bad in ("http://shop.example", "shop.example/path", "*shop.example", "a b"):
        with pytest.raises(ValidationError, match="trusted_hosts"):
            Settings(trusted_hosts=bad)
