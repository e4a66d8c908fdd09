"""``shoptrack triggers …``: the site's rules (list, set) and what each would send (preview)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shoptrack.cli.options import DatabaseUrl, echo_json, err, settings_for
from shoptrack.errors import ShoptrackError
from shoptrack.identity.keycheck import keyring_for
from shoptrack.recommend.serving import RecommendationService
from shoptrack.services import open_store
from shoptrack.store.db import WriteTurn
from shoptrack.store.sql import now_ms
from shoptrack.triggers.decide import preview
from shoptrack.triggers.engine import service_recommender
from shoptrack.triggers.model import Channel
from shoptrack.triggers.rules import parse_rule, read_rules, update_rule
from shoptrack.triggers.unsubscribe import set_subscribed

triggers_app = typer.Typer(
    help="Trigger messages: abandoned cart, abandoned browse, search without results.",
    no_args_is_help=True,
)


def _fail(exc: ShoptrackError) -> None:
    err.print(f"[red]{exc.message}[/red]")
    raise typer.Exit(2)


@triggers_app.command("list")
def list_command(site_id: str, database_url: DatabaseUrl = None) -> None:
    """The site's rules and their settings, one JSON line each."""
    engine, _, _ = open_store(settings_for(database_url))
    try:
        with engine.connect() as conn:
            for settings in read_rules(conn, site_id).values():
                echo_json(settings.to_json())
    finally:
        engine.dispose()


@triggers_app.command("set")
def set_command(
    site_id: str,
    rule: str,
    enabled: Annotated[
        bool | None,
        typer.Option("--enabled/--disabled", help="turn the rule on or off", show_default=False),
    ] = None,
    delay: Annotated[
        str | None, typer.Option(help="after how long: 60s, 30m, 2h (at least 60 s)")
    ] = None,
    channel: Annotated[str | None, typer.Option(help="email or webhook")] = None,
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="where a webhook rule posts; '' unsets")
    ] = None,
    cap_days: Annotated[
        int | None, typer.Option("--cap-days", help="at most once per contact per N days")
    ] = None,
    segment: Annotated[
        str | None,
        typer.Option(help="send only to this segment's contacts (its number); 'none': everyone"),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change a rule's settings; prints the rule as one JSON line."""
    given: dict[str, Any] = {
        "enabled": enabled,
        "delay_seconds": delay,
        "channel": channel,
        "webhook_url": webhook_url,
        "cap_days": cap_days,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    if segment is not None:
        if segment.strip().lower() != "none" and not segment.strip().isdigit():
            raise typer.BadParameter("a segment's number, or 'none'", param_hint="--segment")
        changes["segment_id"] = None if segment.strip().lower() == "none" else int(segment)
    engine, _, _ = open_store(settings_for(database_url))
    try:
        with WriteTurn(engine)(), engine.begin() as conn:
            echo_json(update_rule(conn, site_id, parse_rule(rule), changes).to_json())
    except ShoptrackError as exc:
        _fail(exc)
    finally:
        engine.dispose()


@triggers_app.command("preview")
def preview_command(site_id: str, contact_id: str, database_url: DatabaseUrl = None) -> None:
    """What each rule would send the contact now, and why or why not (changes nothing)."""
    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    try:
        keyring = keyring_for(settings, engine)
        recommender = service_recommender(RecommendationService(engine, settings))
        verdicts = preview(
            engine, keyring, site_id, contact_id, now_ms(), settings.triggers_daily_cap, recommender
        )
        for item in verdicts:
            echo_json(item)
    except ShoptrackError as exc:
        _fail(exc)
    finally:
        engine.dispose()


ChannelOption = Annotated[Channel, typer.Option(help="the channel: email or webhook")]


def _set_subscribed(
    site_id: str, contact_id: str, channel: Channel, subscribed: bool, database_url: str | None
) -> None:
    engine, _, _ = open_store(settings_for(database_url))
    try:
        with WriteTurn(engine)():
            echo_json(set_subscribed(engine, site_id, contact_id, channel, subscribed))
    except ShoptrackError as exc:
        _fail(exc)
    finally:
        engine.dispose()


@triggers_app.command("subscribe")
def subscribe_command(
    site_id: str,
    contact_id: str,
    channel: ChannelOption = Channel.EMAIL,
    database_url: DatabaseUrl = None,
) -> None:
    """Subscribe a contact to a channel's trigger messages again (only when the person has
    consented again: it lifts their unsubscribe); prints the contact's channels."""
    _set_subscribed(site_id, contact_id, channel, True, database_url)


@triggers_app.command("unsubscribe")
def unsubscribe_command(
    site_id: str,
    contact_id: str,
    channel: ChannelOption = Channel.EMAIL,
    database_url: DatabaseUrl = None,
) -> None:
    """Unsubscribe a contact from a channel's trigger messages (as its link would)."""
    _set_subscribed(site_id, contact_id, channel, False, database_url)
