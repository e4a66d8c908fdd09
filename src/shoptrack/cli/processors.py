"""``shoptrack processors …``: the events processors failed on, and their replay."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer

from shoptrack.cli.options import DatabaseUrl, settings_for
from shoptrack.identity.keycheck import keyring_for
from shoptrack.processing.builtin import build_runner
from shoptrack.services import open_store
from shoptrack.store import failures_repo

processors_app = typer.Typer(help="The log's processors and their failures.", no_args_is_help=True)

SiteOption = Annotated[str | None, typer.Option("--site", help="only this site's failures")]


@processors_app.command("failures")
def failures_command(
    site: SiteOption = None,
    status: Annotated[
        str, typer.Option(help="retrying, skipped, resolved, open (both first) or all")
    ] = "open",
    database_url: DatabaseUrl = None,
) -> None:
    """List events processors failed on, newest first, one JSON line each."""
    statuses: tuple[str, ...]
    if status == "open":
        statuses = failures_repo.OPEN_STATUSES
    elif status == "all":
        statuses = failures_repo.STATUSES
    elif status in failures_repo.STATUSES:
        statuses = (status,)
    else:
        raise typer.BadParameter(f"{status!r} is not a status", param_hint="--status")
    engine, _, _ = open_store(settings_for(database_url))
    try:
        before: int | None = None
        while True:
            with engine.connect() as conn:
                page = failures_repo.list_failures(
                    conn, site_id=site, statuses=statuses, before=before, limit=1000
                )
            for failure in page:
                typer.echo(orjson.dumps(failure.as_json()).decode())
            if len(page) < 1000:
                break
            before = page[-1].failure_id
    finally:
        engine.dispose()


@processors_app.command("replay")
def replay_command(
    site: SiteOption = None,
    processor: Annotated[
        str | None, typer.Option("--processor", help="only this processor's failures")
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Run skipped events through their processor again; prints each as it stands after.

    A processor of this version runs them now; others' stay `retrying` for their worker.
    """
    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    try:
        runner = build_runner(settings, engine, keyring_for(settings, engine))
        if processor is not None:
            with engine.connect() as conn:
                known = {p.name for p in runner.processors} | failures_repo.processor_names(conn)
            if processor not in known:
                names = ", ".join(sorted(known))
                raise typer.BadParameter(
                    f"no processor {processor!r} (known: {names})", param_hint="--processor"
                )
        for failure in runner.replay(site, processor):
            typer.echo(orjson.dumps(failure.as_json()).decode())
    finally:
        engine.dispose()
