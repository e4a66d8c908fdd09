"""GET /api/v1/contacts without a lookup lists the site's contacts page by page; contact
recommendations by e-mail, phone or externalCustomerId in one call."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from shoptrack.cli.main import app
from tests.support.identity import auth, post_contacts


def listed(client: TestClient, key: str, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/contacts", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_contacts_are_listed_in_stable_pages(client: TestClient, site: tuple[str, str]) -> None:
    site_id, key = site
    rows = [{"email": f"person{n}@example.com", "firstName": f"P{n}"} for n in range(5)]
    stored = post_contacts(client, key, {"contacts": rows}).json()
    ids = sorted(c["id"] for c in stored["contacts"])
    # A merge leaves only the survivor listed.
    post_contacts(client, key, {"externalCustomerId": "X-1", "phone": "+380501234567"})
    merged = post_contacts(
        client, key, {"externalCustomerId": "X-1", "email": "person0@example.com"}
    ).json()
    assert merged["contact"]["email"] == "person0@example.com"

    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        page = listed(client, key, limit=2, **({"cursor": cursor} if cursor else {}))
        pages.append(page["contacts"])
        cursor = page["next"]
        if cursor is None:
            break
    seen = [c["id"] for page in pages for c in page]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert seen == sorted(seen) == ids  # by id, each once
    first = pages[0][0]
    assert first["email"].startswith("person") and set(first) >= {"id", "visitors", "created_at"}
    assert listed(client, key, limit=5)["next"] is None  # an exact last page has no next

    # A lookup stays exact, through the blind index.
    found = listed(client, key, email="PERSON3@example.com")
    assert [c["firstName"] for c in found["contacts"]] == ["P3"] and found["next"] is None
    assert listed(client, key, email="person@example.com")["contacts"] == []

    two = client.get(
        "/api/v1/contacts", params={"email": "a@b.co", "phone": "+1"}, headers=auth(key)
    )
    assert two.status_code == 400 and two.json()["error"]["code"] == "invalid_value"
    bad = client.get("/api/v1/contacts", params={"limit": 0}, headers=auth(key))
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "limit"

    settings = client.app.state.services.settings  # type: ignore[attr-defined]
    out = CliRunner().invoke(
        app,
        ["contacts", "list", site_id, "--limit", "3", "--database-url", settings.database_url],
        env={"SHOPTRACK_KEY_FILE": str(settings.key_file)},
    )
    assert out.exit_code == 0, out.output
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3 and ids[0] in lines[0] and "person" in lines[0]
    assert "--cursor" in out.stderr  # how to get the next page


def test_contact_recommendations_by_identifier(client: TestClient, site: tuple[str, str]) -> None:
    _, key = site
    made = post_contacts(client, key, {"email": "ann@example.com", "externalCustomerId": "A7"})
    contact_id = made.json()["contact"]["id"]
    url = "/api/v1/contacts/recommendations"
    by_id = client.get(f"/api/v1/contacts/{contact_id}/recommendations", headers=auth(key))
    assert by_id.status_code == 200, by_id.text
    for params in ({"email": " Ann@Example.com"}, {"externalCustomerId": "A7"}):
        one_call = client.get(url, params=params, headers=auth(key))
        assert one_call.status_code == 200, one_call.text
        assert one_call.json() == by_id.json()

    unknown = client.get(url, params={"email": "bob@example.com"}, headers=auth(key))
    assert unknown.status_code == 404
    assert unknown.json()["error"] == {
        "code": "not_found",
        "message": "no contact with this email",
        "field": "email",
    }
    none = client.get(url, headers=auth(key))
    assert none.status_code == 400 and none.json()["error"]["code"] == "missing_field"
    assert client.get(url, params={"email": "ann@example.com"}).status_code == 401
