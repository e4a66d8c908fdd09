"""CLI commands of the identity work: ``keys rotate|status``, ``worker``, ``sites configure``,
``contacts list|erase|reindex``.

Registered on the main ``shoptrack`` app by ``shoptrack.cli.main``; kept here so the CLI module
stays a table of contents.
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shoptrack.cli.options import DatabaseUrl, err, settings_for

keys_app = typer.Typer(help="Encryption keys of personal data.", no_args_is_help=True)
contacts_app = typer.Typer(help="The sites' contacts.", no_args_is_help=True)


@keys_app.command("rotate")
def keys_rotate(
    database_url: DatabaseUrl = None,
    batch_size: Annotated[int, typer.Option(help="rows re-encrypted per transaction")] = 1000,
) -> None:
    """Add a new key (it becomes active), re-encrypt everything with it, retire old keys.

    Servers keep running: they pick up the new key within a second and read old and new
    ciphertexts throughout.
    """
    from shoptrack.identity.crypto import KeyMaterialError
    from shoptrack.identity.keycheck import keyring_for
    from shoptrack.identity.rotation import rotate
    from shoptrack.services import open_store

    settings = settings_for(database_url)
    if settings.encryption_keys:
        err.print(
            "[red]error:[/red] keys come from SHOPTRACK_ENCRYPTION_KEYS; rotation rewrites the "
            "key file (SHOPTRACK_KEY_FILE): move the keys there first"
        )
        raise typer.Exit(1)
    engine, _, _ = open_store(settings)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=err, transient=False) as progress:
            tasks: dict[str, Any] = {}

            def on_progress(label: str, done: int, total: int) -> None:
                if label not in tasks:
                    tasks[label] = progress.add_task(label, total=total)
                progress.update(tasks[label], completed=done, total=total)

            keyring_for(settings, engine)  # refuses to rotate when keys are missing already
            report = rotate(engine, settings.key_path, batch=batch_size, progress=on_progress)
    except KeyMaterialError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    rate = report.total / report.seconds if report.seconds else 0.0
    err.print(
        f"active key: {report.new_key_id}; retired: {', '.join(report.retired) or 'none'}; "
        f"{report.total} ciphertexts re-encrypted in {report.seconds:.1f}s "
        f"({rate:,.0f}/s, {report.passes} passes)"
    )
    err.print(f"back up {settings.key_path} now: the old backup cannot read new data")


@keys_app.command("status")
def keys_status(database_url: DatabaseUrl = None) -> None:
    """The active key, the keys held, and how many stored ciphertexts use each."""
    from shoptrack.identity.keycheck import keyring_for
    from shoptrack.identity.rotation import key_usage
    from shoptrack.services import open_store

    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    try:
        ring = keyring_for(settings, engine)
        usage = key_usage(engine)
    finally:
        engine.dispose()
    source = "SHOPTRACK_ENCRYPTION_KEYS" if settings.encryption_keys else str(settings.key_path)
    err.print(f"keys from {source}; active: {ring.active_id}; held: {', '.join(ring.keys)}")
    table = Table("column", *[str(k) for k in ring.keys], "other")
    stale = 0
    for label, counter in usage.items():
        other = sum(n for k, n in counter.items() if k not in ring.keys)
        stale += sum(n for k, n in counter.items() if k != ring.active_id)
        table.add_row(label, *[str(counter.get(k, 0)) for k in ring.keys], str(other))
    Console().print(table)
    if stale:
        err.print(f"{stale} ciphertexts use an older key: run `shoptrack keys rotate`")


def worker(
    database_url: DatabaseUrl = None,
    exit_with_parent: Annotated[
        bool,
        typer.Option(
            "--exit-with-parent",
            hidden=True,
            help="stop when stdin closes (how `shoptrack serve` runs its worker)",
        ),
    ] = False,
) -> None:
    """Run the processors (identity linking, …) in a loop until interrupted."""
    from shoptrack.catalog.scheduler import FeedScheduler
    from shoptrack.identity.keycheck import keyring_for
    from shoptrack.processing.builtin import build_runner
    from shoptrack.segments.refresher import SegmentRefresher
    from shoptrack.services import open_store
    from shoptrack.triggers.engine import TriggerEngine, configured_deliveries
    from shoptrack.triggers.segment_webhooks import SegmentWebhookSender

    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    keyring = keyring_for(settings, engine)
    runner = build_runner(settings, engine, keyring)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if exit_with_parent:
        from shoptrack.processing.supervisor import stop_when_parent_exits

        stop_when_parent_exits(stop.set)
    # Scheduled feed imports run beside the log processors, as they do inside `serve`.
    feeds = threading.Thread(
        target=FeedScheduler(engine, settings).loop, args=(stop,), name="feed-scheduler"
    )
    feeds.start()
    # The triggers' due queue: decided and handed to its channel within a tick of due time.
    triggers = TriggerEngine.build(
        settings, engine, keyring, configured_deliveries(settings, engine, keyring)
    )
    due_queue = threading.Thread(target=triggers.run_forever, args=(stop,), name="triggers")
    due_queue.start()
    # Segments in full, as time moves people out of (and into) their windows.
    segments = threading.Thread(
        target=SegmentRefresher(engine, settings.segment_refresh_s, keyring).loop,
        args=(stop,),
        name="segments",
    )
    segments.start()
    # Segment entries and exits to the shops' tools (segments with a webhook_url).
    segment_hooks = threading.Thread(
        target=SegmentWebhookSender(engine, keyring, settings).loop,
        args=(stop,),
        name="segment-webhooks",
    )
    segment_hooks.start()
    names = ", ".join(p.name for p in runner.processors)
    err.print(
        f"worker running processors: {names}, feed schedule, triggers, segment refresh "
        "(Ctrl-C to stop)"
    )
    started = time.monotonic()
    try:
        runner.run_forever(stop)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        feeds.join()
        due_queue.join()
        segments.join()
        segment_hooks.join()
        engine.dispose()
    err.print(f"worker stopped after {time.monotonic() - started:.0f}s")


def sites_configure(
    site_id: str,
    default_region: Annotated[
        str | None,
        typer.Option(help="region for phone numbers without country code, e.g. UA; '-' unsets"),
    ] = None,
    auto_create_contacts: Annotated[
        bool | None,
        typer.Option(
            "--auto-create-contacts/--no-auto-create-contacts",
            help="identified visitors become contacts right away (default: the server setting)",
            show_default=False,
        ),
    ] = None,
    require_signed_identity: Annotated[
        bool | None,
        typer.Option(
            "--require-signed-identity/--no-require-signed-identity",
            help="browser identities link visitors only when signed (user_hash; see README)",
            show_default=False,
        ),
    ] = None,
    identity_secret: Annotated[
        str | None,
        typer.Option(help="'new': make or replace the secret identities are signed with"),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show or change a site's settings; prints them as one JSON line (a new identity secret
    is in that line, once: store it in the shop's server configuration)."""
    from shoptrack.errors import ShoptrackError
    from shoptrack.identity.keycheck import keyring_for
    from shoptrack.identity.signing import SECRET_FIELD, configure_site
    from shoptrack.services import open_store

    changes: dict[str, Any] = {}
    if default_region is not None:
        changes["default_region"] = None if default_region == "-" else default_region
    if auto_create_contacts is not None:
        changes["auto_create_contacts"] = auto_create_contacts
    if require_signed_identity is not None:
        changes["require_signed_identity"] = require_signed_identity
    if identity_secret is not None:
        changes[SECRET_FIELD] = identity_secret
    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    try:
        ring = keyring_for(settings, engine)
        view = configure_site(engine, ring, site_id, changes)
    except ShoptrackError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(orjson.dumps(view).decode())


def sites_webhook_secret(site_id: str, database_url: DatabaseUrl = None) -> None:
    """Print SITE's webhook signing secret (whsec_…), made now if it has none yet.

    Give it to the receiver of trigger webhooks: it verifies each request's signature with it.
    """
    from shoptrack.errors import ShoptrackError
    from shoptrack.identity.keycheck import keyring_for
    from shoptrack.services import open_store
    from shoptrack.triggers.webhook_secret import WebhookSecretError, WebhookSecrets

    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    try:
        ring = keyring_for(settings, engine)
        secret = WebhookSecrets(engine, ring).secret_for(site_id)
    except ShoptrackError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    except WebhookSecretError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(orjson.dumps({"site_id": site_id, "webhook_secret": secret}).decode())


@contacts_app.command("list")
def contacts_list(
    site_id: str,
    limit: Annotated[int, typer.Option(min=1, max=500, help="contacts per page")] = 50,
    cursor: Annotated[str | None, typer.Option(help="the next page's cursor")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """One page of SITE's contacts by id, one JSON line each (personal fields decrypted)."""
    from shoptrack.identity.contacts import ContactService
    from shoptrack.identity.keycheck import keyring_for
    from shoptrack.services import open_store

    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    try:
        ring = keyring_for(settings, engine)
        page, next_cursor = ContactService(engine, ring).page(site_id, limit, cursor)
    finally:
        engine.dispose()
    for contact in page:
        typer.echo(orjson.dumps(contact).decode())
    if next_cursor is not None:
        err.print(f"next page: shoptrack contacts list {site_id} --cursor {next_cursor}")


@contacts_app.command("erase")
def contacts_erase(
    site_id: str,
    contact_id: str,
    database_url: DatabaseUrl = None,
) -> None:
    """Erase a contact by id (as DELETE /api/v1/contacts/{id}); prints the report as JSON.

    Works without the keys of the contact's data too (a lost key file): what could not be
    searched is listed under ``not_matched``.
    """
    from shoptrack.errors import ShoptrackError
    from shoptrack.identity.erasure import erase_contact
    from shoptrack.identity.keycheck import check_keys, open_keyring
    from shoptrack.processing.builtin import ERASURE_STEPS, build_runner
    from shoptrack.recommend.history import ErasedVisitors, open_history
    from shoptrack.services import open_store

    settings = settings_for(database_url)
    erased = ErasedVisitors()
    engine, _, _ = open_store(settings)
    try:
        ring = open_keyring(
            engine, settings.key_path, settings.encryption_keys, allow_missing=True, create=False
        )
        # The processors catch up first (nothing waiting in the log links the person again),
        # unless keys are missing: they could not read those events anyway.
        runner = build_runner(settings, engine, ring)
        complete = not check_keys(engine, ring).missing
        report = erase_contact(
            engine,
            ring,
            site_id,
            contact_id,
            actor="cli",
            catch_up=(lambda: runner.drain(gap_wait_s=None)) if complete else None,
            also=(*ERASURE_STEPS, erased.step),
        )
        # Shared histories (Redis) drop the person's now; each serving process's own memory
        # drops them when the entry's lifetime ends (recs_history_ttl_s).
        history = open_history(engine, settings)
        if history is not None:
            history.forget(site_id, erased.visitor_ids)
    except ShoptrackError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(orjson.dumps(report.to_json()).decode())
    for note in report.not_matched:
        err.print(f"not matched: {note}")


@contacts_app.command("reindex")
def contacts_reindex(
    site_ids: Annotated[
        list[str] | None, typer.Argument(help="the sites (all sites when none is given)")
    ] = None,
    database_url: DatabaseUrl = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="contacts per batch")] = 500,
) -> None:
    """Write the blind indexes of the contacts' city and custom fields again (for segment
    conditions): needed once for contacts written before migration 0019. Runs beside servers.
    """
    from shoptrack.identity.field_index import reindex
    from shoptrack.identity.keycheck import keyring_for
    from shoptrack.services import open_store

    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    started = time.monotonic()
    try:
        ring = keyring_for(settings, engine)
        with Progress(*columns, console=err, transient=False) as progress:
            tasks: dict[str, Any] = {}

            def on_progress(site_id: str, done: int, total: int) -> None:
                if site_id not in tasks:
                    tasks[site_id] = progress.add_task(f"site {site_id}", total=total)
                progress.update(tasks[site_id], completed=done, total=total)

            indexed, skipped = reindex(
                engine, ring, site_ids or None, batch=batch_size, progress=on_progress
            )
    finally:
        engine.dispose()
    err.print(f"{indexed} contacts indexed in {time.monotonic() - started:.1f}s")
    if skipped:
        err.print(f"[yellow]{skipped} contacts skipped: their profile's key is missing[/yellow]")


def register(app: typer.Typer, sites_app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
    app.add_typer(contacts_app, name="contacts")
    app.command("worker")(worker)
    sites_app.command("configure")(sites_configure)
    sites_app.command("webhook-secret")(sites_webhook_secret)
