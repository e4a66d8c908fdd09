"""Input limits: over a limit is a 413 or a 400 that names the path, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from shoptrack.collector.limits import Limits, _name_the_excess, check_storable, check_structure
from shoptrack.config import Settings
from shoptrack.errors import LimitExceeded, Reason, ShoptrackError
from shoptrack.store.tables import events, rejected_events
from shoptrack.web.app import create_app
from tests.support.apps import DATABASES, module_app
from tests.support.payloads import browser_event, rest_body, webevent_body

MAX_BODY = 4096
MAX_IMPORT_BODY = 16_384
MAX_EVENTS = 5
MAX_STRING = 100
MAX_DEPTH = 8
MAX_LIST = 20


@pytest.fixture(scope="module", params=DATABASES)
def limited_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One real app with small limits per database for the module; each test gets a fresh
    site on it."""
    with module_app(
        request,
        tmp_path_factory,
        "limits",
        max_body_bytes=MAX_BODY,
        max_import_body_bytes=MAX_IMPORT_BODY,
        max_events_per_batch=MAX_EVENTS,
        max_import_events=MAX_EVENTS,
        max_string_length=MAX_STRING,
        max_depth=MAX_DEPTH,
        max_list_length=MAX_LIST,
    ) as client:
        yield client


@pytest.fixture
def limited(limited_server: TestClient) -> tuple[TestClient, str, str]:
    """The server with small limits and a fresh site on it: (client, site_id, api_key)."""
    repo = limited_server.app.state.services.site_repo  # type: ignore[attr-defined]
    site, key = repo.create("Limited shop")
    return limited_server, site.site_id, key


def count(client: TestClient, site_id: str | None = None, table: Any = events) -> int:
    """Rows of the table, of one site or (``None``) of every site."""
    stmt = select(func.count()).select_from(table)
    if site_id is not None:
        stmt = stmt.where(table.c.site_id == site_id)
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def webevent(client: TestClient, body: Any) -> Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    response: Response = client.post(
        "/webevent", content=content, headers={"Content-Type": "text/plain"}
    )
    return response


def with_payload(site_id: str, payload: Any) -> dict[str, Any]:
    return webevent_body(site_id, browser_event("MainPage", payload))


# --- body size ------------------------------------------------------------------------------


def test_webevent_body_over_the_limit_is_413_with_a_clear_message(
    limited: tuple[TestClient, str, str],
) -> None:
    client, _, _ = limited
    response = webevent(client, b" " * (MAX_BODY + 1))
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "body_too_large"
    assert str(MAX_BODY) in error["message"]
    assert response.headers["access-control-allow-origin"] == "*"


def test_a_body_just_within_the_limit_is_read(limited: tuple[TestClient, str, str]) -> None:
    client, site_id, _ = limited
    body = orjson.dumps(webevent_body(site_id, browser_event("MainPage")))
    padded = body + b" " * (MAX_BODY - len(body))
    assert len(padded) == MAX_BODY
    assert webevent(client, padded).status_code == 200


def test_a_streamed_body_without_length_is_cut_at_the_limit(
    limited: tuple[TestClient, str, str],
) -> None:
    client, _, _ = limited

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    response = client.post("/webevent", content=chunks())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_rest_body_over_the_limit_is_413(limited: tuple[TestClient, str, str]) -> None:
    client, site_id, _ = limited
    body = rest_body(site_id, "MainPage", {"pad": ["x" * 90] * 50})
    response = client.post("/api/v2", content=orjson.dumps(body))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_import_body_over_its_own_limit_is_413(limited: tuple[TestClient, str, str]) -> None:
    client, _, key = limited
    response = client.post(
        "/api/v1/events",
        content=b" " * (MAX_IMPORT_BODY + 1),
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 413
    assert str(MAX_IMPORT_BODY) in response.json()["error"]["message"]


def test_an_over_limit_body_is_kept_as_rejected_but_only_a_prefix(
    limited: tuple[TestClient, str, str],
) -> None:
    client, _, _ = limited
    events_before = count(client)
    rejected_before = count(client, table=rejected_events)
    webevent(client, b"{" + b" " * (MAX_BODY + 10))
    assert count(client, table=rejected_events) == rejected_before + 1
    assert count(client) == events_before


# --- structure ------------------------------------------------------------------------------


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def test_too_deep_is_400_naming_the_path(limited: tuple[TestClient, str, str]) -> None:
    client, site_id, _ = limited
    response = webevent(client, with_payload(site_id, {"MainPage": nested(10)}))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "too_deep"
    assert error["field"].startswith("events[0].payload.MainPage.a")
    assert error["field"] in error["message"]
    assert str(MAX_DEPTH) in error["message"]
    assert count(client, site_id) == 0


def test_far_too_deep_json_is_400_not_a_crash(limited: tuple[TestClient, str, str]) -> None:
    # Deeper than any parser recursion: refused while parsing or by the structure check.
    client, _, _ = limited
    response = webevent(client, b"[" * 3000 + b"]" * 3000)
    assert response.status_code in (400, 413)


def test_list_too_long_is_400_naming_the_path(limited: tuple[TestClient, str, str]) -> None:
    client, site_id, _ = limited
    response = webevent(client, with_payload(site_id, {"ids": list(range(MAX_LIST + 1))}))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "list_too_long"
    assert error["field"] == "events[0].payload.ids"
    assert str(MAX_LIST) in error["message"]


def test_object_with_too_many_fields_is_400_naming_the_path(
    limited: tuple[TestClient, str, str],
) -> None:
    client, site_id, _ = limited
    payload = {"MainPage": {f"f{i}": i for i in range(MAX_LIST + 1)}}
    response = webevent(client, with_payload(site_id, payload))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "list_too_long"
    assert response.json()["error"]["field"] == "events[0].payload.MainPage"


def test_string_too_long_is_400_naming_the_path(limited: tuple[TestClient, str, str]) -> None:
    client, site_id, _ = limited
    payload = {"ProductPage": {"productKey": "k" * (MAX_STRING + 1)}}
    body = webevent_body(site_id, browser_event("ProductPage", payload))
    response = webevent(client, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "string_too_long"
    assert error["field"] == "events[0].payload.ProductPage.productKey"
    assert str(MAX_STRING) in error["message"]


def test_field_name_too_long_is_400(limited: tuple[TestClient, str, str]) -> None:
    client, site_id, _ = limited
    response = webevent(client, with_payload(site_id, {"k" * (MAX_STRING + 1): 1}))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "string_too_long"
    assert response.json()["error"]["field"] == "events[0].payload"


def test_rest_structure_limits_name_the_path(limited: tuple[TestClient, str, str]) -> None:
    client, site_id, _ = limited
    body = rest_body(site_id, "SearchRequest", {"SearchRequest": {"search": "q" * 101}})
    response = client.post("/api/v2", content=orjson.dumps(body))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "SearchRequest.search"


def rejected_fields(client: TestClient, key: str) -> list[str]:
    response = client.get("/api/v1/rejected-events", headers={"Authorization": f"Bearer {key}"})
    return [entry["error"]["field"] for entry in response.json()["rejected"]]


def test_a_browser_body_refused_as_a_whole_is_listed_to_the_site_it_names(
    limited: tuple[TestClient, str, str],
) -> None:
    # The shop must be able to see why its tracker's request was refused.
    client, site_id, key = limited
    webevent(client, with_payload(site_id, {"MainPage": nested(10)}))
    assert rejected_fields(client, key) == ["events[0].payload.MainPage.a.a.a.a"]


def test_a_rest_body_refused_as_a_whole_is_listed_to_the_site_it_names(
    limited: tuple[TestClient, str, str],
) -> None:
    client, site_id, key = limited
    body = rest_body(site_id, "SearchRequest", {"SearchRequest": {"search": "q" * 101}})
    client.post("/api/v2", content=orjson.dumps(body))
    assert rejected_fields(client, key) == ["SearchRequest.search"]


# --- events per batch -----------------------------------------------------------------------


def test_too_many_events_in_a_browser_batch_is_413(limited: tuple[TestClient, str, str]) -> None:
    client, site_id, _ = limited
    body = webevent_body(site_id, *[browser_event("MainPage") for _ in range(MAX_EVENTS + 1)])
    response = webevent(client, body)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_many_events"
    assert error["field"] == "events"
    assert str(MAX_EVENTS) in error["message"]
    assert count(client, site_id) == 0


def test_a_browser_batch_at_the_limit_is_stored(limited: tuple[TestClient, str, str]) -> None:
    client, site_id, _ = limited
    body = webevent_body(site_id, *[browser_event("MainPage") for _ in range(MAX_EVENTS)])
    assert webevent(client, body).json()["accepted"] == MAX_EVENTS
    assert count(client, site_id) == MAX_EVENTS


def test_too_many_events_in_an_import_is_413(limited: tuple[TestClient, str, str]) -> None:
    client, site_id, key = limited
    items = [rest_body(site_id, "MainPage", eventId=f"e{i}") for i in range(MAX_EVENTS + 1)]
    response = client.post(
        "/api/v1/events", json={"events": items}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_events"
    assert count(client, site_id) == 0


# --- the structure check itself -------------------------------------------------------------

LIMITS = Limits(max_body_bytes=10**6, max_depth=5, max_list_length=3, max_string_length=10)


def test_structure_within_limits_passes() -> None:
    check_structure({"a": [1, {"b": "0123456789"}], "c": None}, LIMITS)


def test_structure_check_does_not_recurse() -> None:
    # A parsed structure deeper than Python's recursion limit must still get a clean answer.
    with pytest.raises(LimitExceeded) as caught:
        check_structure(nested(5_000), LIMITS)
    assert caught.value.code == Reason.TOO_DEEP


@pytest.mark.parametrize(
    ("value", "code", "field"),
    [
        # The body is level 1: the object at a.b.c.d.e is the sixth level.
        ({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, Reason.TOO_DEEP, "a.b.c.d.e"),
        ([[[[[[1]]]]]], Reason.TOO_DEEP, "[0][0][0][0][0]"),
        ({"a": [1, 2, 3, 4]}, Reason.LIST_TOO_LONG, "a"),
        ({"a": [{"b": "x" * 11}]}, Reason.STRING_TOO_LONG, "a[0].b"),
        ("x" * 11, Reason.STRING_TOO_LONG, None),
    ],
)
def test_structure_refusals_name_the_path(value: Any, code: Reason, field: str | None) -> None:
    with pytest.raises(LimitExceeded) as caught:
        check_structure(value, LIMITS)
    assert caught.value.code == code
    assert caught.value.field == field
    assert caught.value.status == 400


def _json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | text,
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5)
        ),
        max_leaves=40,
    )


# Storable text only: the limits are what these compare (NUL has its own test below).
_storable_values = _json_values(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=14)
)
# Text with NUL now and then (hypothesis draws no surrogates unless asked: orjson refuses them).
_any_values = _json_values(st.text(st.sampled_from("a\x00é😀,[{"), max_size=14))


def _outcome(check: Any, *args: Any) -> tuple[Reason, str | None] | None:
    try:
        check(*args)
    except ShoptrackError as refusal:
        return refusal.code, refusal.field
    return None


@settings(max_examples=400, deadline=None)
@given(value=_storable_values, max_events=st.none() | st.integers(1, 5))
def test_the_quick_checks_never_let_through_what_the_exact_walk_refuses(
    value: Any, max_events: int | None
) -> None:
    # The byte counts and the path-less walk only decide "surely fine"; every refusal, and
    # the field it names, must be the exact walk's.
    limits = Limits(10**6, 3, 3, 10, max_events)
    exact = _outcome(_name_the_excess, value, limits)
    assert _outcome(check_structure, value, limits, orjson.dumps(value)) == exact
    assert _outcome(check_structure, value, limits) == exact


@settings(max_examples=400, deadline=None)
@given(value=_any_values)
def test_the_bytes_never_let_through_a_nul_the_walk_refuses(value: Any) -> None:
    # The raw bytes decide only "no NUL can be in there"; a refusal is always the walk's.
    limits = Limits(10**6, 100, 100, 100)
    walked = _outcome(check_storable, value)
    assert _outcome(check_structure, value, limits, orjson.dumps(value)) == walked
    assert _outcome(check_structure, value, limits) == walked
    # (orjson writes NUL as its escape; the alphabet has no backslash of its own.)
    assert (walked is None) == (b"\\u0000" not in orjson.dumps(value))


def test_the_import_limit_is_not_hidden_by_the_list_length_limit(
    database_url: str, tmp_path: Path
) -> None:
    # Each limit is its own setting: raising the import limit above the list length must work.
    settings = Settings(
        database_url=database_url,
        key_file=tmp_path / "keys",
        commit_interval_ms=1,
        max_list_length=10,
        max_import_events=30,
    )
    with TestClient(create_app(settings)) as client:
        repo = client.app.state.services.site_repo  # type: ignore[attr-defined]
        site, key = repo.create("Shop")
        items = [rest_body(site.site_id, "MainPage", eventId=f"e{i}") for i in range(25)]
        response = client.post(
            "/api/v1/events", json={"events": items}, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 25


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ({"a": ["ok", "b\x00"]}, "a[1]", "a[1]: must not contain NUL"),
        ({"a": {"k\x00": 1}}, "a.k\\u0000", "a.k\\u0000: a field name must not contain NUL"),
        (["x", "\ud800"], "[1]", "[1]: must not contain a lone surrogate (U+D800 to U+DFFF)"),
        ("\udfff", None, "body: must not contain a lone surrogate (U+D800 to U+DFFF)"),
        # The first in document order, however deep the earlier one is.
        ({"a": [{"b": "\x00"}], "c": "\x00"}, "a[0].b", "a[0].b: must not contain NUL"),
    ],
)
def test_unstorable_strings_are_refused_naming_their_path(
    value: Any, field: str | None, message: str
) -> None:
    with pytest.raises(ShoptrackError) as caught:
        check_storable(value)
    assert (caught.value.code, caught.value.field, caught.value.message) == (
        Reason.INVALID_VALUE,
        field,
        message,
    )
    assert caught.value.status == 400


def test_storable_text_passes() -> None:
    check_storable({"emoji": "😀", "accents": "é", "list": ["\ufffd", 1, None, {"k": "v"}]})
