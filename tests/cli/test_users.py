"""``shoptrack users …`` on SQLite and PostgreSQL."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from shoptrack.cli.main import app
from shoptrack.store.sites_repo import SiteRepository
from tests.support.databases import migrated_engine

PASSWORD = "correct horse battery"


def test_users_are_created_granted_listed_and_deleted(database_url: str) -> None:
    engine = migrated_engine(database_url)
    SiteRepository(engine).create("Shop", "shop")
    engine.dispose()
    runner = CliRunner()
    db = ["--database-url", database_url]
    made = runner.invoke(
        app, ["users", "create", "Ann@Example.com", "--password-stdin", *db], input=PASSWORD + "\n"
    )
    assert made.exit_code == 0, made.output
    assert orjson.loads(made.stdout)["email"] == "ann@example.com"
    short = runner.invoke(
        app, ["users", "create", "bob@example.com", "--password-stdin", *db], input="short\n"
    )
    assert short.exit_code == 1 and "password: must be at least 10" in short.output
    missing = runner.invoke(app, ["users", "grant", "ann@example.com", "nowhere", *db])
    assert missing.exit_code == 1 and "no site 'nowhere'" in missing.output
    granted = runner.invoke(app, ["users", "grant", "ann@example.com", "shop", *db])
    assert orjson.loads(granted.stdout)["sites"] == ["shop"]
    listed = runner.invoke(app, ["users", "list", *db])
    (line,) = listed.stdout.splitlines()
    assert orjson.loads(line)["email"] == "ann@example.com" and "argon2" not in line
    gone = runner.invoke(app, ["users", "delete", "ann@example.com", *db])
    assert gone.exit_code == 0
    assert runner.invoke(app, ["users", "list", *db]).stdout == ""
