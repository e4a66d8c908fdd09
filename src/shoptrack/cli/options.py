"""What every command shares: the database option, the settings loader, output helpers."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from shoptrack.config import Settings

# Progress, prompts and errors go to stderr; stdout carries only the commands' JSON output.
err = Console(stderr=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///path or postgresql://user@host/db (env SHOPTRACK_DATABASE_URL)",
        show_default=False,
    ),
]


def settings_for(database_url: str | None = None, **overrides: object) -> Settings:
    """The settings from the environment, with the options given on the command line."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if database_url:
        values["database_url"] = database_url
    return Settings(**values)  # type: ignore[arg-type]


def echo_json(value: Any) -> None:
    typer.echo(orjson.dumps(value).decode())
