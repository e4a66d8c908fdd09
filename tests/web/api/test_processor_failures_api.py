"""GET /api/v1/processor-failures, its replay, and `shoptrack processors …`, on both stores."""

from __future__ import annotations

import re
from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from shoptrack.cli.main import app as cli_app
from shoptrack.config import Settings
from shoptrack.processing.runner import ProcessorRunner
from tests.support.failing import (
    MarkerProcessor,
    event_ids,
    failure_rows,
    log_events,
    marker_table,
    seen_seqs,
)

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Shop:
    """Two sites with their keys; site a has two bad events, site b one."""

    def __init__(self, client: TestClient) -> None:
        services = client.app.state.services  # type: ignore[attr-defined]
        self.client = client
        self.engine: Engine = services.engine
        self.site_a, self.key_a = services.site_repo.create("Shop A")
        self.site_b, self.key_b = services.site_repo.create("Shop B")
        self.marker = MarkerProcessor()
        self.runner = ProcessorRunner(
            self.engine, [self.marker], gap_wait_s=0, max_attempts=2, retry_backoff_s=0
        )
        self.a_seqs = log_events(self.engine, self.a, event_ids(3, poison_at=0))
        self.a_seqs += log_events(self.engine, self.a, event_ids(2, poison_at=1))
        self.b_seqs = log_events(self.engine, self.b, event_ids(2, poison_at=1))
        self.runner.drain()
        self.runner.run_once()  # the second attempt: skipped from now on

    @property
    def a(self) -> str:
        return str(self.site_a.site_id)

    @property
    def b(self) -> str:
        return str(self.site_b.site_id)

    def get(self, key: str, **params: object) -> dict[str, object]:
        answer = self.client.get(
            "/api/v1/processor-failures",
            params=params,
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, object] = answer.json()
        return body


@pytest.fixture
def shop(client: TestClient) -> Iterator[Shop]:
    engine = client.app.state.services.engine  # type: ignore[attr-defined]
    with marker_table(engine):
        yield Shop(client)


def test_the_failures_of_the_keys_site_are_listed_with_paging(shop: Shop) -> None:
    first = shop.get(shop.key_a, limit=1)
    [item] = first["failures"]  # type: ignore[misc]
    assert set(item) == {
        "id",
        "processor",
        "site_id",
        "seq",
        "event_id",
        "status",
        "reason",
        "attempts",
        "first_failed_at",
        "last_failed_at",
        "next_attempt_at",
        "resolved_at",
    }
    assert item["site_id"] == shop.a and item["processor"] == "marker"
    assert item["seq"] == shop.a_seqs[4]  # newest first
    assert (item["status"], item["attempts"]) == ("skipped", 2)
    assert item["reason"] == "ValueError: cannot handle this event"
    assert ISO_MS.match(item["first_failed_at"]) and ISO_MS.match(item["last_failed_at"])
    assert item["next_attempt_at"] is None and item["resolved_at"] is None
    second = shop.get(shop.key_a, limit=1, before=first["next_before"])
    [older] = second["failures"]  # type: ignore[misc]
    assert older["seq"] == shop.a_seqs[0]
    assert shop.get(shop.key_a, limit=1, before=second["next_before"])["failures"] == []
    only_b = shop.get(shop.key_b)
    assert [f["seq"] for f in only_b["failures"]] == [shop.b_seqs[1]]  # type: ignore[union-attr]
    assert only_b["next_before"] is None


def test_a_bad_status_filter_is_a_clear_error(shop: Shop) -> None:
    answer = shop.client.get(
        "/api/v1/processor-failures",
        params={"status": "exploded"},
        headers={"Authorization": f"Bearer {shop.key_a}"},
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["field"] == "status" and "exploded" in error["message"]
    no_key = shop.client.get("/api/v1/processor-failures")
    assert no_key.status_code == 401


def test_replay_through_the_api_resolves_once_fixed(shop: Shop) -> None:
    shop.marker.broken = False
    answer = shop.client.post(
        "/api/v1/processor-failures/replay",
        headers={"Authorization": f"Bearer {shop.key_a}"},
    )
    assert answer.status_code == 200, answer.text
    replayed = answer.json()["failures"]
    # The API's process runs no "marker" processor: the worker that does takes them up.
    assert sorted((f["seq"], f["status"]) for f in replayed) == [
        (shop.a_seqs[0], "retrying"),
        (shop.a_seqs[4], "retrying"),
    ]
    shop.runner.run_once()
    resolved = shop.get(shop.key_a, status="resolved")["failures"]
    assert [f["seq"] for f in resolved] == [shop.a_seqs[4], shop.a_seqs[0]]  # type: ignore[union-attr]
    assert all(ISO_MS.match(f["resolved_at"]) for f in resolved)  # type: ignore[union-attr]
    assert shop.get(shop.key_a)["failures"] == []  # open ones only by default
    # Site b's failure was not replayed by site a's key.
    assert [f["status"] for f in shop.get(shop.key_b)["failures"]] == ["skipped"]  # type: ignore[union-attr]
    assert seen_seqs(shop.engine) == sorted([*shop.a_seqs, shop.b_seqs[0]])


def test_the_cli_lists_and_replays(
    shop: Shop, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPTRACK_KEY_FILE", str(settings.key_file))
    db = ["--database-url", settings.database_url]
    cli = CliRunner()
    listed = cli.invoke(cli_app, ["processors", "failures", "--site", shop.b, *db])
    assert listed.exit_code == 0, listed.output
    [line] = [orjson.loads(x) for x in listed.output.splitlines()]
    assert (line["site_id"], line["seq"], line["status"]) == (shop.b, shop.b_seqs[1], "skipped")
    everything = cli.invoke(cli_app, ["processors", "failures", *db])
    assert len(everything.output.splitlines()) == 3

    replayed = cli.invoke(
        cli_app, ["processors", "replay", "--site", shop.b, "--processor", "marker", *db]
    )
    assert replayed.exit_code == 0, replayed.output
    [line] = [orjson.loads(x) for x in replayed.output.splitlines()]
    assert (line["seq"], line["status"]) == (shop.b_seqs[1], "retrying")
    shop.marker.broken = False
    shop.runner.run_once()
    statuses = {(f["site_id"], f["seq"]): f["status"] for f in failure_rows(shop.engine)}
    assert statuses[(shop.b, shop.b_seqs[1])] == "resolved"
    assert statuses[(shop.a, shop.a_seqs[0])] == "skipped"
    unknown = cli.invoke(cli_app, ["processors", "replay", "--processor", "nope", *db])
    assert unknown.exit_code != 0
    assert "nope" in unknown.output
