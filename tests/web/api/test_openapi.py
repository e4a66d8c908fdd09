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
        "require_signed_identity",
        "identity_secret",
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


# Served, but not part of the API: the documentation itself, the dashboard's pages (for
# people, under /admin, signed in by cookie), and /metrics (for Prometheus, loopback or its
# own token, in Prometheus's text format: README "Metrics").
UNDESCRIBED = {"/docs", "/docs/assets", "/openapi.json", "/metrics"}
UNDESCRIBED_PREFIX = "/admin"
DESCRIBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _routes(routes: list[Any]) -> list[Any]:
    """The routes themselves: FastAPI (0.13x+) keeps an included router as one entry."""
    flat: list[Any] = []
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        flat.extend(contexts() if contexts is not None else [route])
    return flat


def _served(app: Any) -> set[tuple[str, str]]:
    """(path, method) of every route the app serves, the plain-ASGI ingestion paths included."""
    served: set[tuple[str, str]] = set()
    for route in _routes(app.router.routes):
        path = getattr(route, "path", None)
        path = re.sub(r"{(\w+):\w+}", r"{\1}", path) if path else path  # {key:path}
        methods = getattr(route, "methods", None) or set()
        if path is None or path in UNDESCRIBED or path.startswith(UNDESCRIBED_PREFIX):
            continue
        served |= {(path, m) for m in methods if m in DESCRIBED_METHODS}
    for path, endpoint in app.ingestion._paths.items():
        # The trailing-slash spelling is the same endpoint, not another path.
        if not path.endswith("/"):
            served |= {(path, m) for m in endpoint.methods}
    return served


def test_every_served_path_is_in_the_schema_and_every_described_one_is_served(
    client: TestClient,
) -> None:
    schema = client.get("/openapi.json").json()
    described = {
        (path, method.upper())
        for path, item in schema["paths"].items()
        for method in item
        if method in (*HTTP_METHODS, "options")
    }
    served = _served(client.app)
    assert served - described == set(), "served but not described"
    assert described - served == set(), "described but not served"
    for path in ("/webevent", "/api/v2", "/recs/{site_id}", "/recs/{site_id}/blocks", "/"):
        assert path in schema["paths"], path


def test_the_ingestion_bodies_are_described(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    webevent = schema["paths"]["/webevent"]["post"]
    # The tracker posts text/plain (no CORS preflight); both are read as JSON.
    assert set(webevent["requestBody"]["content"]) == {"text/plain", "application/json"}
    batch = schema["components"]["schemas"]["WebEventBatch"]
    assert batch["required"] == ["site_id", "events"]
    assert {"200", "400", "413", "503"} <= set(webevent["responses"])
    rest = schema["paths"]["/api/v2"]["post"]
    # The key is optional on /api/v2: either scheme, or none.
    assert {} in rest["security"]
    assert schema["components"]["schemas"]["RestEvent"]["required"] == ["GeneralInfo"]
    # Loose as the readers: numbers as strings are accepted where the tracker sends them.
    assert "string" in batch["properties"]["sent_at"]["type"]
    assert "503" in schema["paths"]["/healthz"]["get"]["responses"]


def _api_v1_body_operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (path, method)
        for path, method, operation in _operations(schema)
        if path.startswith("/api/v1/") and "requestBody" in operation
    ]


def test_a_body_that_is_not_utf8_is_refused_after_the_key_check(
    client: TestClient, site: tuple[str, str]
) -> None:
    """Issue 13: an invalid UTF-8 body to /api/v1/blocks was answered 400 {"detail"-like
    "There was an error parsing the body"} before the key was checked."""
    _, key = site
    schema = client.get("/openapi.json").json()
    operations = _api_v1_body_operations(schema)
    assert ("/api/v1/blocks", "post") in operations
    for path, method in operations:
        url = path.replace("{block_id}", "1").replace("{variant_id}", "1")
        url = url.replace("{rule}", "abandoned_cart").replace("{channel}", "email")
        url = url.replace("{contact_id}", "ct_1")
        for body in (b"\xff\xfe{", b"{not json"):
            kwargs: dict[str, Any] = {
                "content": body,
                "headers": {"content-type": "application/json"},
            }
            anonymous = client.request(method, url, **kwargs)
            assert anonymous.status_code == 401, (path, method, anonymous.text)
            kwargs["headers"]["Authorization"] = f"Bearer {key}"
            refused = client.request(method, url, **kwargs)
            assert refused.status_code == 400, (path, method, refused.text)
            error = refused.json()["error"]
            assert error["code"] == "invalid_json", (path, method, error)
            assert "body" in error["message"], (path, method, error)
            assert "There was an error" not in error["message"]


def test_a_query_parameter_given_twice_is_refused(
    client: TestClient, site: tuple[str, str]
) -> None:
    """Found by Schemathesis: ``limit=x&limit=4`` was answered as ``limit=4``."""
    _, key = site
    headers = {"Authorization": f"Bearer {key}"}
    response = client.get("/api/v1/events?limit=x&limit=4", headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "limit"
    assert client.get("/api/v1/events?limit=4", headers=headers).status_code == 200


def test_no_query_or_path_parameter_is_declared_nullable(client: TestClient) -> None:
    """A query string cannot carry null: an optional parameter is one that is not sent."""
    schema = client.get("/openapi.json").json()
    for path, method, operation in _operations(schema):
        for parameter in operation.get("parameters", ()):
            assert {"type": "null"} not in parameter["schema"].get("anyOf", []), (path, method)


def test_api_v1_string_parameters_say_nul_is_refused(
    client: TestClient, site: tuple[str, str]
) -> None:
    """Found by Schemathesis: ``q=%00`` fits the schema but is refused (400, PostgreSQL text
    cannot hold NUL); the schema now says so."""
    _, key = site
    schema = client.get("/openapi.json").json()
    q = next(
        p for p in schema["paths"]["/api/v1/products"]["get"]["parameters"] if p["name"] == "q"
    )
    assert q["schema"]["pattern"] == "^[^\\u0000]*$"
    refused = client.get("/api/v1/products?q=a%00", headers={"Authorization": f"Bearer {key}"})
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "q"
    # Found by Schemathesis too: an unknown identifier is a 404, now documented.
    by_identifier = schema["paths"]["/api/v1/contacts/recommendations"]["get"]["responses"]
    assert "404" in by_identifier
