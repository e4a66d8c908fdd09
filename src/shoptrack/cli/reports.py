"""``shoptrack reports …``: recompute the block reports from the event log."""

from __future__ import annotations

import typer

from shoptrack.cli.options import DatabaseUrl, echo_json, settings_for
from shoptrack.processing.rebuild import rebuild
from shoptrack.reports.attribution import NAME
from shoptrack.services import open_store

reports_app = typer.Typer(help="Recommendation reports.", no_args_is_help=True)


@reports_app.command("rebuild")
def rebuild_command(database_url: DatabaseUrl = None) -> None:
    """Recompute every report from the whole event log (after changing the attribution window)."""
    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    try:
        rebuild(engine, settings)
    finally:
        engine.dispose()
    echo_json({"rebuilt": NAME})
