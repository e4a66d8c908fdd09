"""One error shape for every failure the API can answer, and ``GET /`` saying what this is."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi.testclient import TestClient

from shoptrack import __version__
from shoptrack.config import Settings
from shoptrack.web.app import create_app
from tests.support.identity import auth


def assert_error_shape(response: httpx.Response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "field"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    assert error["field"] == field, error


def test_unknown_paths_answer_404_in_the_error_shape(
    client: TestClient, site: tuple[str, str]
) -> None:
    _, key = site
    for path in ("/nowhere", "/api/v1/nothing-here", "/api/v3", "/administrator"):
        response = client.get(path, headers=auth(key))
        assert_error_shape(response, 404)
        assert response.json()["error"]["code"] == "not_found"
        assert path in response.json()["error"]["message"]


def test_wrong_methods_answer_405_in_the_error_shape_with_allow(
    client: TestClient, site: tuple[str, str]
) -> None:
    _, key = site
    for method, path, allowed in (
        ("DELETE", "/api/v1/events", {"GET", "POST"}),
        ("PUT", "/api/v1/blocks", {"GET", "POST"}),  # two routes: Allow names both
        ("POST", "/healthz", {"GET"}),
        ("GET", "/webevent", {"POST", "OPTIONS"}),  # plain ASGI, answering alike already
        ("GET", "/api/v2", {"POST"}),
    ):
        response = client.request(method, path, headers=auth(key))
        assert_error_shape(response, 405)
        assert response.json()["error"]["code"] == "method_not_allowed"
        assert set(response.headers["allow"].split(", ")) >= allowed, path
    # The docs' static files refuse other methods alike.
    assert_error_shape(client.post("/docs/assets/swagger-ui.css"), 405)


def test_request_validation_answers_400_naming_the_field_never_422(
    client: TestClient, site: tuple[str, str]
) -> None:
    _, key = site
    headers = auth(key)
    cases: list[tuple[str, str, dict[str, Any], str | None]] = [
        ("GET", "/api/v1/blocks/not-a-number", {}, "block_id"),
        ("GET", "/api/v1/events?limit=0", {}, "limit"),
        ("GET", "/api/v1/events?before=-1", {}, "before"),
        ("GET", "/api/v1/feeds/f1/imports?limit=nine", {}, "limit"),
        ("POST", "/api/v1/blocks", {"json": {"variants": []}}, "variants"),
        ("POST", "/api/v1/blocks", {"json": {"variants": [{"weight": 1}]}}, "variants.0.algorithm"),
        ("POST", "/api/v1/feeds", {"json": {}}, "url"),
        ("POST", "/api/v1/feeds", {"json": {"url": 5, "schedule": "daily"}}, "url"),
        ("POST", "/api/v1/blocks/1/status", {"json": {"status": "sleeping"}}, "status"),
    ]
    for method, path, kwargs, field in cases:
        response = client.request(method, path, headers=headers, **kwargs)
        assert_error_shape(response, 400, field)
        assert field is None or field in response.json()["error"]["message"]
    # A body that is no JSON at all is named as such.
    response = client.post(
        "/api/v1/feeds",
        content=b"{not json",
        headers={**headers, "content-type": "application/json"},
    )
    assert_error_shape(response, 400)
    assert response.json()["error"]["code"] == "invalid_json"
    # No body where one is required.
    response = client.post("/api/v1/feeds", headers=headers)
    assert_error_shape(response, 400, "body")
    assert response.json()["error"]["code"] == "missing_field"


def test_auth_and_not_found_errors_keep_the_shape(
    client: TestClient, site: tuple[str, str]
) -> None:
    _, key = site
    assert_error_shape(client.get("/api/v1/blocks"), 401, "Authorization")
    assert_error_shape(client.get("/api/v1/blocks/999", headers=auth(key)), 404, "block_id")


def test_ingestion_and_public_recs_answers_are_unchanged(
    client: TestClient, site: tuple[str, str]
) -> None:
    site_id, _ = site
    # /webevent and /api/v2 already answer the documented shape.
    response = client.post("/webevent", content=b"{nope", headers={"content-type": "text/plain"})
    assert_error_shape(response, 400)
    response = client.post("/api/v2", content=b"[]", headers={"content-type": "application/json"})
    assert response.status_code == 400 and set(response.json()["error"]) == {
        "code",
        "message",
        "field",
    }
    # /recs keeps the string the tracker hands to its callback.
    response = client.get(f"/recs/{site_id}")
    assert response.status_code == 400
    assert response.json() == {"error": "variant is required"}
    response = client.get("/recs/no-such-site?variant=r1v1")
    assert response.status_code == 404 and isinstance(response.json()["error"], str)


def test_an_unexpected_failure_answers_500_in_the_error_shape(settings: Settings) -> None:
    app = create_app(settings)

    async def broken() -> None:
        raise RuntimeError("a bug")

    # A route of the test's own: no route of ours fails on purpose.
    app.add_api_route("/broken-for-this-test", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/broken-for-this-test")
    assert_error_shape(response, 500)
    assert response.json()["error"] == {
        "code": "internal",
        "message": "internal error",
        "field": None,
    }


def test_root_says_what_this_server_is_and_where_things_are(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["name"] == "shoptrack"
    assert body["version"] == __version__
    assert body["docs"] == "/docs"
    assert body["openapi"] == "/openapi.json"
    assert body["health"] == "/healthz"
    assert body["dashboard"]["path"] == "/admin" and body["dashboard"]["available"] is True
    # Every advertised link answers.
    for path in (body["docs"], body["openapi"], body["health"]):
        assert client.get(path).status_code == 200, path


def test_root_answers_a_small_html_page_to_browsers(client: TestClient) -> None:
    response = client.get("/", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "shoptrack" in page and __version__ in page
    assert 'href="/docs"' in page and 'href="/openapi.json"' in page
    assert 'href="/healthz"' in page
    assert 'href="/admin"' in page
    # An API client that accepts anything gets JSON.
    assert client.get("/", headers={"accept": "*/*"}).json()["name"] == "shoptrack"
    json_first = {"accept": "application/json, text/html;q=0.5"}
    assert client.get("/", headers=json_first).json()["name"] == "shoptrack"
    assert client.head("/").status_code == 200
