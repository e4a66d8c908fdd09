"""``shoptrack feeds add|import|list|report|delete|worker``: the catalogue from the command line.

Registered on the main app by ``shoptrack.cli.main``. Machine-readable results go to stdout as one
JSON line each; progress bars, tables and hints go to stderr.
"""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from shoptrack.cli.options import DatabaseUrl, echo_json, err, settings_for

feeds_app = typer.Typer(help="Product feeds and the catalogue.", no_args_is_help=True)


def report_table(record: dict[str, Any]) -> Table:
    """One import's report as a two-column table."""
    report = record.get("report") or {}
    table = Table(title=f"import {record.get('id')} — {record.get('status')}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    error = record.get("error")
    if error:
        line = f" (line {error['line']})" if error.get("line") else ""
        table.add_row("[red]error[/red]", f"{error['code']}: {error['message']}{line}")
    rows = [
        ("format", report.get("format")),
        ("items read", report.get("items")),
        ("products", report.get("products")),
        ("new / removed", f"{report.get('new_products', 0)} / {report.get('removed_products', 0)}"),
        ("in stock", report.get("in_stock")),
        ("out of stock", report.get("out_of_stock")),
        ("price = 0 or missing", report.get("price_zero")),
        ("without category", report.get("without_category")),
        ("categories", report.get("categories")),
        ("kept from ProductUpdate", report.get("kept_from_updates")),
        ("page-view values replaced", report.get("page_values_replaced")),
    ]
    for name, value in rows:
        if value is not None:
            table.add_row(name, str(value))
    for name in ("unknown_categories", "duplicates", "errors"):
        block = report.get(name) or {}
        count = block.get("count", 0)
        table.add_row(name.replace("_", " "), str(count))
        for example in (block.get("examples") or [])[:10]:
            table.add_row("", _example(example))
    missing = report.get("missing") or {}
    if missing:
        table.add_row("missing fields", ", ".join(f"{k}: {v}" for k, v in missing.items()))
    return table


def _example(example: dict[str, Any]) -> str:
    if "message" in example:
        return f"line {example.get('line')}: {example['message']}"
    if "events" in example:
        return f"{example['key']!r} ({example['events']} CategoryPage events)"
    return f"{example.get('key')!r} at line {example.get('line')}"


@feeds_app.command("add")
def feeds_add(
    site: str,
    url_or_path: str,
    schedule: Annotated[
        str | None,
        typer.Option(help="daily@03:00 | hourly | weekly | weekly@mon@03:00 | 'every 6h'"),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Register a feed (an http(s) URL or a local file) for SITE; prints it as JSON."""
    from shoptrack.catalog.feeds import FeedRepository
    from shoptrack.catalog.sources import private_feed_warning
    from shoptrack.errors import ShoptrackError
    from shoptrack.services import open_store

    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    try:
        feed = FeedRepository(engine, settings.feed_timezone).add(
            site, url_or_path, schedule, allow_files=True
        )
    except ShoptrackError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    echo_json(feed.to_json())
    warning = private_feed_warning(feed.url, settings.feed_allow_private_hosts)
    if warning:
        err.print(f"[yellow]warning:[/yellow] {warning}")
    err.print(f"import it now with: shoptrack feeds import {site}")


@feeds_app.command("import")
def feeds_import(
    site: str,
    feed: Annotated[str | None, typer.Option(help="only this feed id")] = None,
    force: Annotated[bool, typer.Option(help="ignore ETag / Last-Modified")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Import SITE's feeds now, with a progress bar; prints each outcome as JSON."""
    from shoptrack.catalog.feeds import STATUS_FAILED
    from shoptrack.catalog.importer import FeedImporter
    from shoptrack.catalog.importer import Progress as ImportProgress
    from shoptrack.services import open_store

    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    failed = False
    try:
        importer = FeedImporter(engine, settings)
        feeds = [f for f in importer.feeds.list_feeds(site) if feed in (None, f.feed_id)]
        if not feeds:
            err.print(f"[red]error:[/red] no feed for site {site!r}: add one with feeds add")
            raise typer.Exit(1)
        for one in feeds:
            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TextColumn("{task.fields[items]} items"),
                TimeElapsedColumn(),
                console=err,
                transient=False,
            ) as bar:
                task = bar.add_task(one.feed_id, total=None, items=0)

                def show(p: ImportProgress, task_id: Any = task, progress: Any = bar) -> None:
                    progress.update(task_id, completed=p.bytes_read, total=p.total_bytes)
                    progress.update(task_id, items=p.items)

                outcome = importer.run(one, trigger="cli", force=force, progress=show)
            record = importer.feeds.get_import(site, outcome.import_id) or outcome.to_json()
            err.print(report_table(record))
            echo_json(outcome.to_json())
            failed = failed or outcome.status == STATUS_FAILED
    finally:
        engine.dispose()
    if failed:
        err.print("the last good catalogue is still live; see the error above")
        raise typer.Exit(1)


@feeds_app.command("list")
def feeds_list(
    site: Annotated[str | None, typer.Option(help="only this site's feeds")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List feeds with their last import, one JSON line each."""
    from shoptrack.catalog.feeds import FeedRepository
    from shoptrack.services import open_store

    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    try:
        repo = FeedRepository(engine, settings.feed_timezone)
        for one in repo.list_feeds(site):
            out = one.to_json()
            last = repo.get_import(one.site_id, one.last_import_id) if one.last_import_id else None
            if last is not None:
                report = last["report"]
                out["last_import"] = {
                    "status": last["status"],
                    "error": last["error"],
                    "products": report.get("products"),
                    "errors": (report.get("errors") or {}).get("count"),
                }
            echo_json(out)
    finally:
        engine.dispose()


@feeds_app.command("report")
def feeds_report(
    site: str,
    feed: Annotated[str | None, typer.Option(help="only this feed id")] = None,
    last: Annotated[int, typer.Option(help="how many imports per feed")] = 1,
    database_url: DatabaseUrl = None,
) -> None:
    """Show the latest import reports of SITE's feeds (tables on stderr, JSON on stdout)."""
    from shoptrack.catalog.feeds import FeedRepository
    from shoptrack.services import open_store

    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    try:
        repo = FeedRepository(engine, settings.feed_timezone)
        for one in repo.list_feeds(site):
            if feed not in (None, one.feed_id):
                continue
            for record in repo.imports(site, one.feed_id, last):
                err.print(report_table(record))
                echo_json(record)
    finally:
        engine.dispose()


@feeds_app.command("delete")
def feeds_delete(
    site: str,
    feed_id: str,
    purge: Annotated[
        bool, typer.Option(help="also remove the products this feed imported")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete a feed, its schedule and import reports; its products stay unless --purge."""
    from shoptrack.catalog.feeds import FeedRepository
    from shoptrack.errors import ShoptrackError
    from shoptrack.services import open_store

    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    try:
        result = FeedRepository(engine, settings.feed_timezone).delete(site, feed_id, purge=purge)
    except ShoptrackError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    echo_json(result)


@feeds_app.command("worker")
def feeds_worker(database_url: DatabaseUrl = None) -> None:
    """Run scheduled feed imports until interrupted (when serve's run_processors is off)."""
    from shoptrack.catalog.scheduler import FeedScheduler
    from shoptrack.services import open_store

    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    err.print(
        f"feed scheduler running, checking every {settings.feed_schedule_interval_s:g}s "
        "(Ctrl-C to stop)"
    )
    try:
        FeedScheduler(engine, settings).loop(stop)
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()
