"""``shoptrack reports …``: recompute the reports from the event log; the trigger report."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shoptrack.cli.options import DatabaseUrl, echo_json, err, settings_for
from shoptrack.errors import ShoptrackError
from shoptrack.processing.rebuild import REPORTS, rebuild
from shoptrack.reports.attribution import NAME
from shoptrack.services import open_store
from shoptrack.triggers.report_queries import trigger_report
from shoptrack.triggers.rules import parse_rule
from shoptrack.web.api.reports import day_range

reports_app = typer.Typer(help="Recommendation and trigger reports.", no_args_is_help=True)


@reports_app.command("rebuild")
def rebuild_command(database_url: DatabaseUrl = None) -> None:
    """Recompute every report from the whole event log (after changing the attribution window)."""
    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    try:
        rebuild(engine, settings)
    finally:
        engine.dispose()
    echo_json({"rebuilt": NAME, "processors": list(REPORTS)})


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def triggers_table(report: dict[str, Any]) -> Table:
    """Rows per day and rule, then each rule's totals and the overall total."""
    table = Table(title=f"trigger messages {report['from']} – {report['to']} (day of the send)")
    for name in ("day", "rule", "sent", "clicked", "click rate", "orders", "conversion"):
        label = name in ("day", "rule")
        table.add_column(name, justify="left" if label else "right", no_wrap=label)
    table.add_column("revenue", justify="right")

    def add(day: str, rule: str, row: dict[str, Any], style: str | None = None) -> None:
        table.add_row(
            day,
            rule,
            str(row["sent"]),
            str(row["clicked"]),
            _rate(row["click_rate"]),
            str(row["orders"]),
            _rate(row["conversion"]),
            f"{row['revenue']:.2f}",
            style=style,
        )

    for row in report["days"]:
        add(row["day"], row["rule"], row)
    if report["days"]:
        table.add_section()
    for row in report["totals"]:
        add("total", row["rule"], row, "bold")
    add("total", "every rule", report["total"], "bold")
    return table


@reports_app.command("triggers")
def triggers_command(
    site_id: str,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="first day, YYYY-MM-DD (default: 29 days before --to)"),
    ] = None,
    to: Annotated[str | None, typer.Option(help="last day, YYYY-MM-DD (default: today)")] = None,
    rule: Annotated[str | None, typer.Option(help="one rule (default: every rule)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="the API's JSON instead")] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Trigger messages sent, clicked, orders and revenue per rule and day of the send."""
    try:
        first, last = day_range(from_, to)
        chosen = parse_rule(rule).value if rule else None
    except ShoptrackError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from None
    engine, _, sites = open_store(settings_for(database_url))
    try:
        if sites.get(site_id) is None:
            err.print(f"[red]site {site_id} was not found[/red]")
            raise typer.Exit(1)
        report = trigger_report(engine, site_id, first, last, chosen)
    finally:
        engine.dispose()
    if as_json:
        echo_json(report)
    else:
        Console().print(triggers_table(report))
