"""``shoptrack demo``: fill a demo site in its own store (once), then serve it with the demo shop.

The fill itself is domain work (``shoptrack/demo/fill.py``); here are the options, the progress
bars on stderr and the one-time password.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shoptrack.cli.options import err
from shoptrack.demo import DEFAULT_EVENTS


def _fill_with_progress(services: Any, **options: Any) -> Any:
    from shoptrack.demo.fill import fill_demo

    with Progress(
        TextColumn("[bold]{task.description:<26}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bars:
        tasks: dict[str, Any] = {}

        def show(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        return fill_demo(services, progress=show, **options)


def demo(
    host: Annotated[str | None, typer.Option(help="address to listen on [127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on [8000]")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="the demo's store [sqlite:///./shoptrack-demo.db, never the shop's own]",
            show_default=False,
        ),
    ] = None,
    events: Annotated[
        int, typer.Option(min=100, max=1_000_000, help="events to fill the demo site with")
    ] = DEFAULT_EVENTS,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="folder holding retailrocket-sample/ to replay [../shared/data; generated "
            "traffic when absent]",
            show_default=False,
        ),
    ] = None,
    refill: Annotated[
        bool, typer.Option("--refill", help="delete the demo's SQLite store and fill it again")
    ] = False,
    fill_only: Annotated[
        bool, typer.Option("--fill-only", help="fill (or reuse) the store, then exit")
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="the dashboard user's password from stdin [generated]"
        ),
    ] = False,
) -> None:
    """Fill a demo site (a catalogue and a month of traffic; once) and serve it with a demo shop
    at /demo/ and the dashboard at /admin/ (user demo@example.com)."""
    from shoptrack.accounts.passwords import check_password_rules
    from shoptrack.demo.account import DEMO_USER
    from shoptrack.demo.store_files import demo_settings, refuse_shop_file, remove_store
    from shoptrack.errors import ShoptrackError
    from shoptrack.services import Services
    from shoptrack.web.demo import PortTaken, bind, run_demo

    settings = demo_settings(database_url, host=host, port=port)
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    try:
        if password is not None:
            check_password_rules(password)
        refuse_shop_file(settings)
    except ShoptrackError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    sock = None
    if not fill_only:
        try:  # a taken port is said before anything is created
            sock = bind(settings.host, settings.port)
        except PortTaken as exc:
            err.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
    try:
        if refill:
            for path in remove_store(settings):
                err.print(f"removed {path}")
        services = Services.build(settings)
        try:
            result = _fill_with_progress(
                services, events_wanted=events, data_dir=data, password=password
            )
        finally:
            services.engine.dispose()
    except ShoptrackError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    if result.api_key:
        err.print(f"created site {result.site_id!r}; its API key (shown once): {result.api_key}")
    if result.reused:
        err.print("the demo site is filled already (--refill starts over)")
    else:
        err.print(
            f"filled in {result.seconds} s: {result.products} products, {result.events} events "
            f"({result.source}), {result.rejected} rejected, {result.contacts} contacts, "
            f"{result.orders} orders, {result.blocks} recommendation blocks, "
            f"{result.messages} trigger messages"
        )
    if result.password:
        err.print(
            f"dashboard user [bold]{DEMO_USER}[/bold], password (shown once): "
            f"[bold]{result.password}[/bold]"
        )
    elif password is None:
        err.print(
            f"dashboard user {DEMO_USER}: the password shown when it was made (a new one: "
            f"shoptrack demo --password-stdin, or --refill)"
        )
    if sock is not None:
        run_demo(settings, result.site_id, sock=sock)
