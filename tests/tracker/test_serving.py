"""Serving the tracker: minified per site, compressed, cacheable, within its size budget."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

import brotli
import pytest
import rjsmin
from fastapi.testclient import TestClient

from shoptrack.config import Settings
from shoptrack.web import scripts as script_module
from shoptrack.web.app import create_app
from shoptrack.web.scripts import minify, render, tracker_source_path

SOURCE = Path(__file__).resolve().parents[2] / "tracker" / "eS.js"
RECS_SOURCE = SOURCE.with_name("eS.recs.js")
BUDGET_GZIP_BYTES = 5 * 1024
RECS_BUDGET_GZIP_BYTES = 3 * 1024


def _client(tmp_path: Path, **settings: object) -> Iterator[tuple[TestClient, str]]:
    config = Settings(
        database_url=f"sqlite:///{tmp_path / 'shoptrack.db'}",
        key_file=tmp_path / "shoptrack.keys",
        **settings,  # type: ignore[arg-type]
    )
    with TestClient(create_app(config)) as client:
        repo = client.app.state.services.site_repo  # type: ignore[attr-defined]
        site, _ = repo.create("Script shop")
        yield client, site.site_id


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    yield from _client(tmp_path)


def test_the_source_is_one_readable_dependency_free_file() -> None:
    assert tracker_source_path() == SOURCE
    # The package's eS.js (what a wheel ships) is the same file.
    packaged = Path(script_module.__file__).parents[1] / "tracker" / "eS.js"
    assert packaged.read_bytes() == SOURCE.read_bytes()
    source = SOURCE.read_text()
    assert not re.search(r"^\s*(import|export)\s|require\(", source, re.M)
    assert source.count("\n") > 300 and "/*" in source  # readable, commented
    assert "`" not in source  # no template literals: the regex-based minifier stays safe


def test_served_script_is_the_current_source_minified_with_site_and_collector(
    served: tuple[TestClient, str],
) -> None:
    client, site_id = served
    response = client.get(f"/scripts/{site_id}.js", headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/javascript; charset=utf-8"
    assert "content-encoding" not in response.headers
    # Minified at load time from the file as it is now: there is no build to go stale.
    expected = render(rjsmin.jsmin(SOURCE.read_text()), site_id, "http://testserver/webevent")
    assert response.text == expected
    assert f'var SITE="{site_id}"' in response.text
    assert 'var ENDPOINT="http://testserver/webevent"' in response.text
    assert "/*" not in response.text and "%%" not in response.text


def test_compressed_cacheable_and_revalidated_with_etag(served: tuple[TestClient, str]) -> None:
    client, site_id = served
    path = f"/scripts/{site_id}.js"
    plain = client.get(path, headers={"Accept-Encoding": "identity"}).content
    gz = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip"
    assert gz.content == plain  # the client decodes it
    assert int(gz.headers["content-length"]) < len(plain) / 2
    br = client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert br.headers["content-encoding"] == "br"
    # Without public_url the baked-in collector address is the Host's: caches key on it too.
    assert br.headers["vary"] == "Accept-Encoding, Host"
    assert br.headers["cache-control"] == "public, max-age=300"
    assert (
        client.get(path, headers={"Accept-Encoding": "br;q=0, gzip"}).headers["content-encoding"]
        == "gzip"
    )

    again = client.get(path, headers={"If-None-Match": br.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == br.headers["etag"]
    # Revalidating one encoding's tag while asking for another is still "not modified".
    other = client.get(
        path, headers={"If-None-Match": gz.headers["etag"], "Accept-Encoding": "identity"}
    )
    assert other.status_code == 304
    changed = client.get(path, headers={"If-None-Match": '"0123456789abcdef01234567-gzip"'})
    assert changed.status_code == 200


def test_size_budget_of_the_served_script(served: tuple[TestClient, str]) -> None:
    client, site_id = served
    path = f"/scripts/{site_id}.js"
    minified = client.get(path, headers={"Accept-Encoding": "identity"}).content
    gz = client.get(path, headers={"Accept-Encoding": "gzip"}, follow_redirects=False)
    served_gzip = int(gz.headers["content-length"])
    served_brotli = int(
        client.get(path, headers={"Accept-Encoding": "br"}).headers["content-length"]
    )
    source = len(SOURCE.read_bytes())
    report = (
        f"tracker size: source {source} B, minified {len(minified)} B, "
        f"gzip {served_gzip} B, brotli {served_brotli} B (budget {BUDGET_GZIP_BYTES} B gzip)"
    )
    print(report)
    assert served_gzip <= BUDGET_GZIP_BYTES, report
    assert len(gzip.compress(minified, 9)) <= BUDGET_GZIP_BYTES
    assert served_brotli == len(brotli.compress(minified, quality=11))


def test_public_url_and_renamed_paths(tmp_path: Path) -> None:
    for client, site_id in _client(
        tmp_path,
        public_url="https://shop.example/t/",
        script_path="/assets/js/",
        event_path="/assets/collect",
    ):
        assert client.get(f"/scripts/{site_id}.js").status_code == 404
        response = client.get(f"/assets/js/{site_id}.js")
        assert response.status_code == 200
        assert 'var ENDPOINT="https://shop.example/t/assets/collect"' in response.text


def test_collector_address_from_proxy_headers_when_trusted(tmp_path: Path) -> None:
    # A forwarded host must be one of the trusted hosts, like the Host itself.
    hosts = "testserver,track.shop.example,shop.example"
    for client, site_id in _client(tmp_path, trust_proxy_headers=True, trusted_hosts=hosts):
        response = client.get(
            f"/scripts/{site_id}.js",
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "track.shop.example"},
        )
        assert 'var ENDPOINT="https://track.shop.example/webevent"' in response.text
        # First-party: the shop proxies https://shop.example/t/… to shoptrack.
        response = client.get(
            f"/scripts/{site_id}.js",
            headers={
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "shop.example",
                "X-Forwarded-Prefix": "/t",
            },
        )
        assert 'var ENDPOINT="https://shop.example/t/webevent"' in response.text
        # Shared caches must key on the headers the address came from.
        assert "X-Forwarded-Host" in response.headers["vary"]
        bad_prefix = client.get(
            f"/scripts/{site_id}.js", headers={"X-Forwarded-Prefix": '/t"+alert(1)+"'}
        )
        assert "alert" not in bad_prefix.text


def test_unknown_site_gets_a_script_that_only_warns(served: tuple[TestClient, str]) -> None:
    client, _ = served
    for name in ("no-such-site", "bad.id", "x" * 80):
        response = client.get(f"/scripts/{name}.js")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/javascript; charset=utf-8"
        assert response.text.startswith("window.console&&console.warn(")
        assert "eS" not in response.text and len(response.content) < 300
        assert response.headers["cache-control"] == "public, max-age=60"


def test_minify_refuses_a_source_without_its_placeholders() -> None:
    with pytest.raises(ValueError, match="exactly once"):
        minify("var SITE = 'x';")


def test_recommendations_script_served_beside_the_tracker_within_its_budget(
    served: tuple[TestClient, str],
) -> None:
    """The lazily loaded second script: same serving, its own endpoint and size budget."""
    client, site_id = served
    path = f"/scripts/{site_id}.recs.js"
    response = client.get(path, headers={"Accept-Encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/javascript; charset=utf-8"
    expected = render(
        rjsmin.jsmin(RECS_SOURCE.read_text()),
        site_id,
        f"http://testserver/recs/{site_id}",
        "'%%RECS_API%%'",
    )
    assert response.text == expected
    assert f'var API="http://testserver/recs/{site_id}"' in response.text
    assert "%%" not in response.text and "`" not in RECS_SOURCE.read_text()
    packaged = Path(script_module.__file__).parents[1] / "tracker" / "eS.recs.js"
    assert packaged.read_bytes() == RECS_SOURCE.read_bytes()
    gz = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip" and gz.headers["etag"]
    served_gzip = int(gz.headers["content-length"])
    report = (
        f"recommendations script size: source {len(RECS_SOURCE.read_bytes())} B, minified "
        f"{len(response.content)} B, gzip {served_gzip} B (budget {RECS_BUDGET_GZIP_BYTES} B)"
    )
    print(report)
    assert served_gzip <= RECS_BUDGET_GZIP_BYTES, report
    # The tracker finds it next to itself; unknown sites get the warning script here too.
    assert client.get("/scripts/nope.recs.js").text.startswith("window.console&&console.warn(")


def test_recommendations_script_follows_renamed_paths(tmp_path: Path) -> None:
    for client, site_id in _client(
        tmp_path, public_url="https://shop.example/t/", script_path="/s", recs_path="/r/"
    ):
        response = client.get(f"/s/{site_id}.recs.js")
        assert f'var API="https://shop.example/t/r/{site_id}"' in response.text
        # The tracker itself is still served at {site_id}.js.
        assert (
            'var ENDPOINT="https://shop.example/t/webevent"' in client.get(f"/s/{site_id}.js").text
        )
