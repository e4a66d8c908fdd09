"""``/docs`` works offline, and the OpenAPI schema says what the API really does."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson
from fastapi.testclient import TestClient

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
BODY_METHODS = ("put", "post", "patch")
# Actions that take no body at all (everything they need is in the path and query).
BODYLESS = {
    ("/api/v1/feeds/{feed_id}/import", "post"),
    ("/api/v1/processor-failures/replay", "post"),
    ("/api/v1/messages/{message_id}/retry", "post"),
}


def test_docs_load_every_asset_from_this_server(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        parts = urlsplit(asset)
        assert not parts.scheme and not parts.netloc, f"{asset} is not served by shoptrack"
        response = client.get(urljoin("http://testserver/docs", asset))
        assert response.status_code == 200, asset
        assert len(response.content) > 1000, asset
    # The page loads the schema from here too, and no other address appears in it.
    assert "url: '/openapi.json'" in html
    assert not re.search(r"https?://", html), re.findall(r"https?://\S+", html)
    # Swagger UI's bundle is a current one (OpenAPI 3.1, which FastAPI emits, needs 5.x).
    bundle = client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["content-type"].split(";")[0] in (
        "text/javascript",
        "application/javascript",
    )
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    name = ref.rsplit("/", 1)[-1]
    found: dict[str, Any] = schema["components"]["schemas"][name]
    return found


def test_schema_declares_the_api_key_on_every_api_v1_operation(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    bearer = [name for name, s in schemes.items() if s == {**s, "type": "http", "scheme": "bearer"}]
    basic = [name for name, s in schemes.items() if s == {**s, "type": "http", "scheme": "basic"}]
    assert len(bearer) == 1 and len(basic) == 1, schemes
    operations = [op for op in _operations(schema) if op[0].startswith("/api/v1/")]
    assert len(operations) >= 25
    for path, method, operation in operations:
        # Either scheme is enough: two requirements, not one with both.
        assert operation.get("security") == [{bearer[0]: []}, {basic[0]: []}], (path, method)
    # The health check needs no key.
    assert "security" not in schema["paths"]["/healthz"]["get"]


def test_schema_documents_every_request_body(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    seen = 0
    for path, method, operation in _operations(schema):
        if method not in BODY_METHODS or not path.startswith("/api/v1/"):
            continue
        if (path, method) in BODYLESS:
            assert "requestBody" not in operation
            continue
        seen += 1
        body = operation.get("requestBody")
        assert body is not None, (path, method)
        content = body["content"]["application/json"]
        resolved = _resolve(schema, content["schema"])
        assert resolved.get("type") == "object" or "oneOf" in resolved, (path, method, resolved)
    assert seen >= 9
    # The bodies read by the routes themselves name their fields.
    events = schema["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]
    assert events["application/json"]["schema"]["required"] == ["events"]
    contacts = schema["paths"]["/api/v1/contacts"]["post"]["requestBody"]["content"]
    one_contact = contacts["application/json"]["schema"]["oneOf"][0]
    assert {"externalCustomerId", "email", "phone"} <= set(one_contact["properties"])
    settings = schema["paths"]["/api/v1/site/settings"]["patch"]["requestBody"]["content"]
    assert set(settings["application/json"]["schema"]["properties"]) == {
        "default_region",
        "auto_create_contacts",
    }


def test_schema_documents_the_real_error_answers(client: TestClient) -> None:
    raw = client.get("/openapi.json").content
    schema = orjson.loads(raw)
    assert b'"422"' not in raw and b"HTTPValidationError" not in raw
    error = schema["components"]["schemas"]["Error"]
    inner = error["properties"]["error"]
    assert set(inner["required"]) == {"code", "message", "field"}
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        if not path.startswith("/api/v1/"):
            continue
        expected = {"401"}
        if operation.get("parameters") or operation.get("requestBody"):
            expected.add("400")
        if "{" in path:
            expected.add("404")
        assert expected <= set(responses), (path, method, sorted(responses))
        for status, response in responses.items():
            if status[0] in "45":
                ref = response["content"]["application/json"]["schema"]
                assert ref == {"$ref": "#/components/schemas/Error"}, (path, method, status)
    # Routes that read a size-limited body say they may answer 413.
    for path, method in (
        ("/api/v1/events", "post"),
        ("/api/v1/contacts", "post"),
        ("/api/v1/site/settings", "patch"),
    ):
        assert "413" in schema["paths"][path][method]["responses"], path
    # Storing events may answer 503 (nothing acknowledged, retry).
    assert "503" in schema["paths"]["/api/v1/events"]["post"]["responses"]


def test_the_declared_answers_are_the_real_ones(client: TestClient, site: tuple[str, str]) -> None:
    _, key = site
    headers = {"Authorization": f"Bearer {key}"}
    too_big = b'{"events": [' + b",".join([b'{"a": "' + b"x" * 1000 + b'"}'] * 20_000) + b"]}"
    response = client.post(
        "/api/v1/events", content=too_big, headers={**headers, "content-type": "application/json"}
    )
    assert response.status_code == 413 and set(response.json()["error"]) == {
        "code",
        "message",
        "field",
    }
    # Basic with an empty user name, as declared, is accepted.
    basic = base64.b64encode(f":{key}".encode()).decode()
    assert client.get("/api/v1/blocks", headers={"Authorization": f"Basic {basic}"}).is_success
