"""``shoptrack segments …`` on both stores: create from a file, preview, export CSV."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import orjson
from typer.testing import CliRunner

from shoptrack.cli.main import app
from tests.segments.world import HOUR, World
from tests.support.databases import migrated_engine


def test_create_preview_export_and_delete(database_url: str, tmp_path: Path) -> None:
    engine = migrated_engine(database_url)
    world = World(engine)
    now = int(time.time() * 1000)
    world.contact("c1", "v1", email=True)
    world.view("v1", "p1", now - HOUR)
    world.view("v2", "p1", now - HOUR)
    world.facts()
    engine.dispose()
    definition = tmp_path / "viewers.json"
    definition.write_bytes(orjson.dumps({"match": {"condition": "event", "event": "viewed"}}))
    db = ["--database-url", database_url]
    runner = CliRunner()
    preview = runner.invoke(app, ["segments", "preview", "shop", str(definition), *db])
    assert preview.exit_code == 0, preview.output
    assert orjson.loads(preview.stdout)["count"] == 2
    made = runner.invoke(app, ["segments", "create", "shop", "Viewers", str(definition), *db])
    assert made.exit_code == 0, made.output
    segment_id = orjson.loads(made.stdout)["id"]
    exported = runner.invoke(app, ["segments", "export", "shop", str(segment_id), *db])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["contact_id"] for r in rows] == ["c1"]  # the anonymous visitor is not exported
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"match": {"condition": "event", "event": "danced"}}')
    refused = runner.invoke(app, ["segments", "create", "shop", "Bad", str(bad), *db])
    assert refused.exit_code == 1 and "definition.match.event" in refused.output
    gone = runner.invoke(app, ["segments", "delete", "shop", str(segment_id), *db])
    assert gone.exit_code == 0
    assert runner.invoke(app, ["segments", "list", "shop", *db]).stdout == ""
