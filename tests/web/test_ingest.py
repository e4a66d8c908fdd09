"""The ingestion endpoints served as plain ASGI ahead of FastAPI (web/ingest.py).

Over HTTP: methods, CORS, and that every other path still reaches FastAPI. Then straight
through the ASGI interface, with scopes and ``receive``/``send`` built here, for what an HTTP
client cannot easily do: leave mid-body, send a body in pieces, declare odd Content-Lengths,
sit behind a path prefix. Those calls run on the TestClient's own event loop (its portal),
where the app's lifespan, and so its group-commit writer, is running.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, func, select
from starlette.types import Message

from shoptrack.store.tables import events, rejected_events
from shoptrack.web.app import ShoptrackApp
from tests.support.apps import DATABASES, module_app
from tests.support.payloads import browser_event, rest_body, webevent_body

Site = tuple[str, str]
RawHeaders = Sequence[tuple[bytes, bytes]]


@pytest.fixture(scope="module", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """One real app per database for the module; each test uses a fresh ``site``."""
    with module_app(request, tmp_path_factory, "routes") as client:
        yield client


@pytest.fixture
def client(server: TestClient) -> TestClient:
    return server


def app_of(client: TestClient) -> ShoptrackApp:
    app = client.app
    assert isinstance(app, ShoptrackApp)
    return app


def engine_of(client: TestClient) -> Engine:
    engine: Engine = app_of(client).state.services.engine
    return engine


def count(client: TestClient, table: Any, site_id: str | None = None) -> int:
    """Rows of the table, of one site or (``None``) of every site, read from the database."""
    stmt = select(func.count()).select_from(table)
    if site_id is not None:
        stmt = stmt.where(table.c.site_id == site_id)
    with engine_of(client).connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def event_ids(client: TestClient, site_id: str) -> list[str]:
    stmt = select(events.c.event_id).where(events.c.site_id == site_id).order_by(events.c.seq)
    with engine_of(client).connect() as conn:
        return [str(row[0]) for row in conn.execute(stmt)]


def one_event(site_id: str, event_id: str) -> bytes:
    return orjson.dumps(webevent_body(site_id, browser_event("MainPage", event_id=event_id)))


def assert_no_cors(response: Response) -> None:
    assert "access-control-allow-origin" not in response.headers


# --- plain ASGI calls -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """What the app sent back through ``send``."""

    messages: list[Message]

    @property
    def start(self) -> Message:
        assert self.messages, "the app sent nothing"
        assert self.messages[0]["type"] == "http.response.start"
        return self.messages[0]

    @property
    def status(self) -> int:
        status: int = self.start["status"]
        return status

    @property
    def raw_headers(self) -> RawHeaders:
        return [(bytes(k), bytes(v)) for k, v in self.start["headers"]]

    def header(self, name: str) -> str | None:
        """The only value of a header (asserting there is at most one), or None."""
        values = [v.decode("latin-1") for k, v in self.raw_headers if k.lower() == name.encode()]
        assert len(values) <= 1, f"{name} sent {len(values)} times"
        return values[0] if values else None

    @property
    def body(self) -> bytes:
        parts = self.messages[1:]
        assert parts, "no http.response.body message"
        assert all(m["type"] == "http.response.body" for m in parts)
        assert not parts[-1].get("more_body", False), "the body was never finished"
        return b"".join(bytes(m.get("body", b"")) for m in parts)

    def json(self) -> Any:
        return orjson.loads(self.body)


def scope_for(
    method: str,
    path: str,
    headers: RawHeaders = (),
    root_path: str = "",
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("203.0.113.9", 50000),
        "server": ("testserver", 80),
        "state": {},
    }


def call(
    client: TestClient,
    scope: dict[str, Any],
    incoming: list[Message],
) -> Answer:
    """Run one request through the app on the TestClient's loop (its lifespan is running).

    ``receive`` hands out ``incoming`` in order, then ``http.disconnect`` for ever after, as a
    server does once the client is gone.
    """
    app = app_of(client)
    portal = client.portal
    assert portal is not None, "the TestClient must be entered (its lifespan running)"
    queue = list(incoming)
    sent: list[Message] = []

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def run() -> None:
        await app(scope, receive, send)

    portal.call(run)
    return Answer(sent)


def chunks_of(*parts: bytes) -> list[Message]:
    """A body in ``http.request`` messages, one per part, the last with more_body=False."""
    return [
        {"type": "http.request", "body": part, "more_body": index < len(parts) - 1}
        for index, part in enumerate(parts)
    ]


def post(
    client: TestClient,
    path: str,
    body: bytes,
    headers: RawHeaders = (),
    root_path: str = "",
) -> Answer:
    length = [(b"content-length", str(len(body)).encode())]
    return call(
        client,
        scope_for("POST", path, [*length, *headers], root_path=root_path),
        chunks_of(body),
    )


# --- methods --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_webevent_refuses_other_methods_with_405_and_allow(client: TestClient, method: str) -> None:
    response = client.request(method, "/webevent")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST, OPTIONS"
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == "method_not_allowed"
    assert set(error) == {"code", "message", "field"}
    assert method in error["message"]
    # Failures of the tracker's path are CORS-open too, or the browser hides them.
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("path", ["/api/v2", "/api/v2/"])
@pytest.mark.parametrize("method", ["GET", "OPTIONS"])
def test_rest_v2_refuses_other_methods_with_405_and_allow(
    client: TestClient, path: str, method: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert_no_cors(response)


def test_a_refused_method_stores_nothing(client: TestClient) -> None:
    before = count(client, events), count(client, rejected_events)
    client.get("/webevent")
    client.get("/api/v2")
    assert (count(client, events), count(client, rejected_events)) == before


# --- CORS -----------------------------------------------------------------------------------


def test_preflight_is_a_204_open_to_any_origin(client: TestClient) -> None:
    response = client.options(
        "/webevent",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert response.headers["access-control-allow-headers"].lower() == "content-type"
    assert response.headers["access-control-max-age"] == "86400"


def test_webevent_answers_carry_cors_when_accepted(client: TestClient, site: Site) -> None:
    response = client.post(
        "/webevent",
        content=one_event(site[0], "cors-ok"),
        headers={"Content-Type": "text/plain", "Origin": "https://shop.example"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert event_ids(client, site[0]) == ["cors-ok"]


@pytest.mark.parametrize("body", [b"{not json", b'{"events": []}'], ids=["bad-json", "no-site"])
def test_webevent_answers_carry_cors_when_refused(client: TestClient, body: bytes) -> None:
    response = client.post("/webevent", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json()["error"]["code"] in {"invalid_json", "missing_field", "invalid_body"}


def test_webevent_batch_of_only_bad_events_is_400_with_cors(client: TestClient, site: Site) -> None:
    body = webevent_body(site[0], browser_event("CategoryPage", {"CategoryPage": {}}))
    response = client.post("/webevent", content=orjson.dumps(body))
    assert response.status_code == 400
    assert response.json()["accepted"] == 0
    assert response.headers["access-control-allow-origin"] == "*"


def test_rest_v2_answers_carry_no_cors(client: TestClient, site: Site) -> None:
    accepted = client.post("/api/v2", content=orjson.dumps(rest_body(site[0], "MainPage")))
    assert accepted.status_code == 200, accepted.text
    assert_no_cors(accepted)
    refused = client.post("/api/v2", content=b"{not json")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_json"
    assert_no_cors(refused)
    unknown_site = client.post("/api/v2", content=orjson.dumps(rest_body("nope", "MainPage")))
    assert unknown_site.status_code >= 400
    assert_no_cors(unknown_site)


# --- every other path is FastAPI's ----------------------------------------------------------


def test_healthz_is_still_served_by_fastapi(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_the_tracker_path_with_a_trailing_slash_is_the_same_endpoint(
    client: TestClient, site: Site
) -> None:
    # Starlette's router redirected it before the ingestion paths left the router.
    response = client.post("/webevent/", content=one_event(site[0], "slash"))
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("path", ["/no-such-path", "/webevent/extra", "/api/v2x"])
def test_unknown_paths_are_fastapis_404(client: TestClient, path: str) -> None:
    response = client.post(path, content=b"{}")
    assert response.status_code == 404
    assert_no_cors(response)


def test_the_v1_api_is_still_behind_its_auth(client: TestClient) -> None:
    response = client.get("/api/v1/events")
    assert response.status_code == 401


# --- straight through ASGI ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/webevent", "/api/v2"])
def test_a_client_leaving_mid_body_gets_nothing_and_nothing_is_stored(
    client: TestClient, site: Site, path: str
) -> None:
    body = (
        one_event(site[0], "left")
        if path == "/webevent"
        else orjson.dumps(rest_body(site[0], "MainPage"))
    )
    before = count(client, events), count(client, rejected_events)
    half = len(body) // 2
    answer = call(
        client,
        scope_for("POST", path, [(b"content-length", str(len(body)).encode())]),
        [
            {"type": "http.request", "body": body[:half], "more_body": True},
            {"type": "http.disconnect"},
        ],
    )
    assert answer.messages == []
    assert count(client, events, site[0]) == 0
    assert count(client, rejected_events, site[0]) == 0
    assert (count(client, events), count(client, rejected_events)) == before
    # The app is none the worse for it.
    assert post(client, "/webevent", one_event(site[0], "after")).status == 200
    assert event_ids(client, site[0]) == ["after"]


def test_a_client_leaving_before_any_body_gets_nothing(client: TestClient) -> None:
    before = count(client, events), count(client, rejected_events)
    answer = call(client, scope_for("POST", "/webevent"), [{"type": "http.disconnect"}])
    assert answer.messages == []
    assert (count(client, events), count(client, rejected_events)) == before


def test_a_body_in_several_chunks_is_read_whole(client: TestClient, site: Site) -> None:
    body = one_event(site[0], "chunked")
    pieces = [body[i : i + 7] for i in range(0, len(body), 7)]
    pieces.insert(1, b"")  # an empty message mid-body is legal ASGI
    assert len(pieces) > 3
    # No Content-Length: read until more_body is False.
    answer = call(client, scope_for("POST", "/webevent"), chunks_of(*pieces))
    assert answer.status == 200, answer.body
    assert answer.json()["ids"] == ["chunked"]
    assert event_ids(client, site[0]) == ["chunked"]


def test_a_rest_body_in_several_chunks_is_read_whole(client: TestClient, site: Site) -> None:
    body = orjson.dumps(rest_body(site[0], "MainPage"))
    third = len(body) // 3
    answer = call(
        client,
        scope_for("POST", "/api/v2", [(b"content-length", str(len(body)).encode())]),
        chunks_of(body[:third], body[third : 2 * third], body[2 * third :]),
    )
    assert answer.status == 200, answer.body
    assert answer.json()["ok"] is True
    assert count(client, events, site[0]) == 1


@pytest.mark.parametrize(
    "declared",
    ["99999999999999999999999999", "9" * 19, str(256 * 1024 + 1)],
    ids=["huge", "19-digits", "one-over"],
)
@pytest.mark.parametrize("path", ["/webevent", "/api/v2"])
def test_a_declared_length_over_the_limit_is_413(
    client: TestClient, site: Site, declared: str, path: str
) -> None:
    body = one_event(site[0], "big") if path == "/webevent" else b"{}"
    answer = call(
        client,
        scope_for("POST", path, [(b"content-length", declared.encode())]),
        chunks_of(body),
    )
    assert answer.status == 413, answer.body
    assert answer.json()["error"]["code"] == "body_too_large"
    if path == "/webevent":
        assert answer.header("access-control-allow-origin") == "*"
    else:
        assert answer.header("access-control-allow-origin") is None
    assert count(client, events, site[0]) == 0


@pytest.mark.parametrize(
    "declared",
    ["²", "-5", "abc", "", "1e3", "+12", " 12", "١٢"],
    ids=["superscript", "negative", "letters", "empty", "exponent", "plus", "space", "arabic"],
)
def test_an_unreadable_declared_length_counts_as_none(
    client: TestClient, site: Site, declared: str
) -> None:
    body = one_event(site[0], "odd-length")
    answer = call(
        client,
        # Header values are bytes: latin-1 where it can say it, else UTF-8 bytes as sent.
        scope_for("POST", "/webevent", [(b"content-length", encode_header(declared))]),
        chunks_of(body),
    )
    assert answer.status == 200, answer.body
    assert answer.json()["ids"] == ["odd-length"]
    assert event_ids(client, site[0]) == ["odd-length"]


@pytest.mark.parametrize("declared", ["²", "-5", "abc"])
def test_an_unreadable_declared_length_with_a_bad_body_is_judged_on_the_body(
    client: TestClient, declared: str
) -> None:
    answer = call(
        client,
        scope_for("POST", "/webevent", [(b"content-length", encode_header(declared))]),
        chunks_of(b"{not json"),
    )
    assert answer.status == 400, answer.body
    assert answer.json()["error"]["code"] == "invalid_json"


def encode_header(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()


@pytest.mark.parametrize(
    ("path", "body_of"),
    [
        ("/webevent", lambda site_id: one_event(site_id, "prefixed")),
        ("/api/v2", lambda site_id: orjson.dumps(rest_body(site_id, "MainPage"))),
    ],
    ids=["webevent", "rest"],
)
def test_a_request_behind_a_root_path_reaches_the_collector(
    client: TestClient, site: Site, path: str, body_of: Any
) -> None:
    answer = post(client, "/shop" + path, body_of(site[0]), root_path="/shop")
    assert answer.status == 200, answer.body
    assert count(client, events, site[0]) == 1


def test_a_root_path_does_not_hide_fastapi(client: TestClient) -> None:
    answer = call(client, scope_for("GET", "/shop/healthz", root_path="/shop"), chunks_of(b""))
    assert answer.status == 200, answer.body
    assert answer.json()["status"] == "ok"


def test_a_path_that_only_starts_like_the_root_is_not_an_ingestion_one(
    client: TestClient, site: Site
) -> None:
    # "/shopwebevent" is not "/webevent" behind "/shop": it is nobody's path.
    answer = post(client, "/shopwebevent", one_event(site[0], "x"), root_path="/shop")
    assert answer.status == 404
    assert count(client, events, site[0]) == 0


# --- the answers themselves -----------------------------------------------------------------


def assert_json_answer(answer: Answer) -> None:
    assert answer.header("content-type") == "application/json"
    assert answer.header("content-length") == str(len(answer.body))
    orjson.loads(answer.body)  # valid JSON


def test_an_accepted_webevent_answer_is_well_formed(client: TestClient, site: Site) -> None:
    answer = post(client, "/webevent", one_event(site[0], "framed"))
    assert answer.status == 200
    assert_json_answer(answer)
    assert answer.json() == {"accepted": 1, "ids": ["framed"], "rejected": []}
    assert len(answer.messages) == 2


def test_an_accepted_rest_answer_is_well_formed(client: TestClient, site: Site) -> None:
    answer = post(client, "/api/v2", orjson.dumps(rest_body(site[0], "MainPage")))
    assert answer.status == 200
    assert_json_answer(answer)
    assert answer.json()["ok"] is True


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/webevent", b"{not json", 400),
        ("POST", "/api/v2", b"{not json", 400),
        ("GET", "/webevent", b"", 405),
        ("DELETE", "/api/v2", b"", 405),
    ],
)
def test_error_answers_are_well_formed(
    client: TestClient, method: str, path: str, body: bytes, status: int
) -> None:
    answer = call(client, scope_for(method, path), chunks_of(body))
    assert answer.status == status
    assert_json_answer(answer)
    assert set(answer.json()["error"]) == {"code", "message", "field"}


def test_the_preflight_answer_has_an_empty_body(client: TestClient) -> None:
    answer = call(client, scope_for("OPTIONS", "/webevent"), chunks_of(b""))
    assert answer.status == 204
    assert answer.body == b""
    assert answer.header("content-type") is None
    assert answer.header("content-length") is None  # RFC 9110: never on a 204
    assert answer.header("access-control-allow-origin") == "*"


def test_the_http_client_sees_the_same_framing(client: TestClient, site: Site) -> None:
    response = client.post("/webevent", content=one_event(site[0], "via-http"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content))
