"""Integers from the path and query are bounded at the edge: out of range is a 400 naming the
field, never a store error answered as 500 (issue 13 point 6)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from shoptrack.store.db import create_store_engine

TOO_BIG = ("9999999999", "99999999999999999999", "-1", "0")


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("value", TOO_BIG)
def test_a_block_id_out_of_range_is_400_on_every_block_route(
    client: TestClient, site: tuple[str, str], value: str
) -> None:
    _, key = site
    base = f"/api/v1/blocks/{value}"
    calls = [
        ("GET", base, None),
        ("GET", f"{base}/history", None),
        ("PATCH", base, {"name": "x"}),
        ("DELETE", base, None),
        ("POST", f"{base}/status", {"status": "live"}),
        ("POST", f"{base}/variants", {"algorithm": "popular"}),
    ]
    for method, path, body in calls:
        response = client.request(method, path, json=body, headers=_auth(key))
        assert response.status_code == 400, (method, path, response.text)
        error = response.json()["error"]
        assert error["field"] == "block_id", (method, path, error)


def test_a_contact_history_cursor_out_of_range_is_400(
    client: TestClient, site: tuple[str, str]
) -> None:
    _, key = site
    response = client.get(
        "/api/v1/contacts/ct_x/events", params={"before": "99999999999999999999"},
        headers=_auth(key),
    )  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == "before"


def test_store_errors_never_carry_the_statement_parameters(engine: Engine) -> None:
    secret = "erase.me@pii.example"
    store = create_store_engine(str(engine.url.render_as_string(hide_password=False)))
    try:
        with pytest.raises(DBAPIError) as caught, store.begin() as conn:
            conn.execute(text("INSERT INTO no_such_table (x) VALUES (:x)"), {"x": secret})
        assert secret not in str(caught.value)
    finally:
        store.dispose()
