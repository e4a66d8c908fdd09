"""The ``shoptrack`` command line."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Annotated

import orjson
import typer

from shoptrack.cli.blocks import register as register_recommend_commands
from shoptrack.cli.demo import demo
from shoptrack.cli.doctor import doctor
from shoptrack.cli.evaluate import evaluate_app
from shoptrack.cli.failures import debug_wanted, explain_failure
from shoptrack.cli.feeds import feeds_app
from shoptrack.cli.identity import register as register_identity_commands
from shoptrack.cli.options import DatabaseUrl, err, settings_for
from shoptrack.cli.processors import processors_app
from shoptrack.cli.reports import reports_app
from shoptrack.cli.segments import segments_app
from shoptrack.cli.serving import UVICORN_OPTIONS as UVICORN_OPTIONS
from shoptrack.cli.serving import HttpFront, front_installed, run_http
from shoptrack.cli.serving import tune_garbage_collector as tune_garbage_collector
from shoptrack.cli.triggers import triggers_app
from shoptrack.cli.users import users_app
from shoptrack.metrics.multiproc_dir import use_fresh_metrics_dir
from shoptrack.store.db import redacted_url

app = typer.Typer(
    help="shoptrack: self-hosted e-commerce behaviour tracking.",
    no_args_is_help=True,
    add_completion=False,
)
sites_app = typer.Typer(help="Sites (shops) and their API keys.", no_args_is_help=True)
events_app = typer.Typer(help="The event log.", no_args_is_help=True)
app.add_typer(sites_app, name="sites")
app.add_typer(events_app, name="events")
app.add_typer(feeds_app, name="feeds")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(reports_app, name="reports")
app.add_typer(processors_app, name="processors")
app.command()(doctor)
app.command()(demo)
app.add_typer(triggers_app, name="triggers")
app.add_typer(users_app, name="users")
app.add_typer(segments_app, name="segments")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on [8000]")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="HTTP worker processes on the port [SHOPTRACK_WORKERS, else one per core]"
        ),
    ] = None,
    http: Annotated[
        HttpFront | None,
        typer.Option(help="the HTTP server: uvicorn or granian [SHOPTRACK_HTTP_SERVER, uvicorn]"),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Run the collector and API (migrations are applied on start)."""
    # First, before any metric is made: this run's processes (API and worker)
    # share one fresh metrics directory, and /metrics sums them (metrics/multiproc_dir.py).
    use_fresh_metrics_dir()
    from shoptrack.identity.keycheck import keyring_for
    from shoptrack.processing.supervisor import WorkerProcess
    from shoptrack.services import open_store

    settings = settings_for(database_url, host=host, port=port, workers=workers, http_server=http)
    if not front_installed(settings.http_server):
        err.print(
            f"[red]error:[/red] {settings.http_server} is not installed "
            f"(pip install 'shoptrack[{settings.http_server}]')"
        )
        raise typer.Exit(2)
    # Store, migrations and keys are checked here, before the HTTP server: a failure is then
    # one line (main below), not a traceback from the application's start-up. The key file
    # exists after this, before any worker starts: they would otherwise create it at once.
    engine, _, _ = open_store(settings)
    try:
        keyring_for(settings, engine)
    finally:
        engine.dispose()
    processes = settings.http_workers
    err.print(
        f"shoptrack listening on http://{settings.host}:{settings.port} "
        f"(store: {redacted_url(settings.database_url)}; {settings.http_server}, "
        f"{processes} HTTP process{'es' if processes > 1 else ''})"
    )
    err.print("create a site with: shoptrack sites create 'My shop'")
    worker: WorkerProcess | None = None
    if settings.run_processors:
        # The processors and the feed schedule run in one child `shoptrack worker` (never one
        # per HTTP process), not in threads of this process: they would share its GIL with
        # the collector.
        worker = WorkerProcess(settings.database_url)
        settings = settings.model_copy(update={"run_processors": False})
    if worker is not None:
        worker.start()
        # uvicorn shuts down on SIGTERM, then raises the signal again with the handler it
        # found: the default one would end the process before the worker is stopped.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        run_http(settings, settings.http_server, processes)
    finally:
        if worker is not None:
            worker.stop()


def _exit_on_sigterm(_signum: int, _frame: object) -> None:
    raise SystemExit(0)


@app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """Apply database migrations and exit."""
    from shoptrack.services import open_store

    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    engine.dispose()
    err.print(f"schema up to date ({redacted_url(settings.database_url)})")


@sites_app.command("create")
def sites_create(
    name: str,
    site_id: Annotated[
        str | None,
        typer.Option("--site-id", help="keep an existing site id (e.g. the one in your snippet)"),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a site; prints {"site_id", "api_key"}. The key is shown this once only."""
    from shoptrack.errors import ShoptrackError
    from shoptrack.services import open_store

    engine, _, repo = open_store(settings_for(database_url))
    try:
        site, key = repo.create(name, site_id)
    except ShoptrackError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(orjson.dumps({"site_id": site.site_id, "api_key": key}).decode())
    err.print("keep the api_key: it is stored hashed and cannot be shown again")


@sites_app.command("list")
def sites_list(database_url: DatabaseUrl = None) -> None:
    """List sites, one JSON line each."""
    from shoptrack.events.model import iso_ms
    from shoptrack.services import open_store

    engine, _, repo = open_store(settings_for(database_url))
    try:
        for site in repo.list():
            typer.echo(
                orjson.dumps(
                    {
                        "site_id": site.site_id,
                        "name": site.name,
                        "created_at": iso_ms(site.created_at),
                    }
                ).decode()
            )
    finally:
        engine.dispose()


@events_app.command("tail")
def events_tail(
    site: Annotated[str | None, typer.Option("--site", help="only this site's events")] = None,
    last: Annotated[int, typer.Option(help="show this many stored events first")] = 10,
    follow: Annotated[bool, typer.Option(help="keep printing new events")] = True,
    interval: Annotated[float, typer.Option(help="seconds between polls")] = 0.5,
    database_url: DatabaseUrl = None,
) -> None:
    """Print events as they are stored, one canonical JSON line each (Ctrl-C to stop)."""
    from shoptrack.services import open_store

    engine, event_log, _ = open_store(settings_for(database_url))
    try:
        cursor = event_log.last_seq()
        if last > 0:
            # Sequence numbers can have gaps (PostgreSQL spends one per ignored duplicate),
            # so without a site this shows at most, not exactly, the last N.
            recent = (
                event_log.query(site, limit=last)
                if site
                else event_log.after(max(cursor - last, 0), limit=last)
            )
            for _, data in sorted(recent):
                typer.echo(data)
        while follow:
            batch = event_log.after(cursor, site)
            for seq, data in batch:
                typer.echo(data)
                cursor = seq
            if not batch:
                time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()


# keys rotate|status, worker, sites configure (cli/identity.py)
register_identity_commands(app, sites_app)
# blocks create|list|show|update|add-variant|set-status, train (cli/blocks.py)
register_recommend_commands(app)


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="show the traceback of a failure, not one line")
    ] = False,
) -> None:
    """shoptrack: self-hosted e-commerce behaviour tracking."""
    if debug:
        os.environ["SHOPTRACK_DEBUG"] = "1"


def main() -> None:
    """The ``shoptrack`` command: a failure it can explain (store, keys, settings) is one line
    on stderr and exit status 1 (2 for settings), with the traceback only under ``--debug`` or
    ``SHOPTRACK_LOG_LEVEL=debug``."""
    try:
        app()
    except Exception as exc:
        failure = explain_failure(exc)
        if failure is None or debug_wanted():
            raise
        message, status = failure
        sys.stderr.write(f"shoptrack: error: {message}\n")
        sys.exit(status)
