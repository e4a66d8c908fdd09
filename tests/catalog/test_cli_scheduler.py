"""``shoptrack feeds …`` commands and the scheduler of timed imports."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from shoptrack.catalog.scheduler import FeedScheduler
from shoptrack.cli.main import app
from shoptrack.config import Settings
from shoptrack.store.sql import now_ms
from shoptrack.store.tables import catalog_feeds
from tests.catalog.conftest import Catalog
from tests.catalog.feedfiles import product, rss


def json_lines(output: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_feeds_commands(
    catalog: Catalog, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPTRACK_KEY_FILE", str(tmp_path / "keys"))
    runner = CliRunner()
    path = tmp_path / "cli-feed.xml"
    path.write_bytes(rss(product("C1"), product("C2"), {"title": "no id"}))
    db = ["--database-url", database_url]

    added = runner.invoke(
        app, ["feeds", "add", catalog.site_id, str(path), "--schedule", "every 6h", *db]
    )
    assert added.exit_code == 0, added.output
    feed = json_lines(added.stdout)[0]
    assert feed["schedule"] == "every 6h" and feed["url"] == str(path)

    imported = runner.invoke(app, ["feeds", "import", catalog.site_id, *db])
    assert imported.exit_code == 0, imported.output
    outcome = json_lines(imported.stdout)[0]
    assert outcome["status"] == "ok"
    assert "item without g:id" in imported.stderr and "products" in imported.stderr

    listed = runner.invoke(app, ["feeds", "list", "--site", catalog.site_id, *db])
    last = json_lines(listed.stdout)[0]["last_import"]
    assert last == {"status": "ok", "error": None, "products": 2, "errors": 1}

    report = runner.invoke(app, ["feeds", "report", catalog.site_id, *db])
    assert report.exit_code == 0 and json_lines(report.stdout)[0]["id"] == outcome["id"]

    path.write_text("not, a, feed\n")
    failed = runner.invoke(app, ["feeds", "import", catalog.site_id, *db])
    assert failed.exit_code == 1
    assert json_lines(failed.stdout)[0]["error"]["code"] == "not_a_feed"  # type: ignore[index]
    assert catalog.keys() == ["C1", "C2"]

    unknown = runner.invoke(app, ["feeds", "add", "no-such-site", str(path), *db])
    assert unknown.exit_code == 1 and "no site" in unknown.stderr


def test_scheduler_runs_due_feeds_once(catalog: Catalog, catalog_settings: Settings) -> None:
    path = catalog.tmp_path / "scheduled.xml"
    path.write_bytes(rss(product("S1")))
    feed = catalog.feeds.add(catalog.site_id, str(path), "hourly", allow_files=True)
    scheduler = FeedScheduler(catalog.engine, catalog_settings)
    assert scheduler.run_due() == []  # next run is within the next hour

    now = now_ms()
    with catalog.engine.begin() as conn:
        conn.execute(update(catalog_feeds).values(next_run_at=now - 1000))
    outcomes = scheduler.run_due(now)
    assert [(o.feed_id, o.status) for o in outcomes] == [(feed.feed_id, "ok")]
    assert catalog.feeds.imports(catalog.site_id, feed.feed_id)[0]["trigger"] == "schedule"
    assert scheduler.run_due(now) == []
    moved = catalog.feeds.get(catalog.site_id, feed.feed_id)
    assert moved is not None and moved.next_run_at is not None
    assert now < moved.next_run_at <= now + 3_600_000

    # Two workers that see the same due feed: only one claims it.
    with catalog.engine.begin() as conn:
        conn.execute(update(catalog_feeds).values(next_run_at=now - 1000))
    due = catalog.feeds.due(now)
    assert [catalog.feeds.claim(f, now) for f in due * 2] == [True, False]
