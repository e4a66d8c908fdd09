"""``shoptrack segments …``: define, preview, list, export and delete segments."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from shoptrack.cli.options import DatabaseUrl, echo_json, err, settings_for
from shoptrack.errors import ShoptrackError
from shoptrack.identity.contacts import ContactService
from shoptrack.identity.keycheck import keyring_for
from shoptrack.segments.service import SegmentService
from shoptrack.services import open_store

segments_app = typer.Typer(
    help="Segments: audiences defined over the tracked events (JSON, schema version 1).",
    no_args_is_help=True,
)
# The decrypted columns of ``export --with-profile`` (custom fields stay out: any number).
PROFILE_COLUMNS = ["externalCustomerId", "email", "phone", "firstName", "lastName", "city"]
SiteArg = Annotated[str, typer.Argument(help="the site id")]
SegmentArg = Annotated[int, typer.Argument(help="the segment's number")]
DefinitionFile = Annotated[
    Path, typer.Argument(help="a JSON file with the definition ('-' reads stdin)")
]


@contextmanager
def _service(database_url: str | None) -> Iterator[SegmentService]:
    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    try:
        # The keyring hashes the values of contact-field conditions, and decrypts profiles.
        yield SegmentService(engine, keyring_for(settings, engine))
    except ShoptrackError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


def _read_definition(path: Path) -> Any:
    raw = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        err.print(f"[red]error:[/red] the definition is not valid JSON: {exc}")
        raise typer.Exit(1) from None


@segments_app.command("list")
def list_command(site_id: SiteArg, database_url: DatabaseUrl = None) -> None:
    """The site's segments, one JSON line each."""
    with _service(database_url) as service:
        for segment in service.all(site_id):
            echo_json(segment.to_json())


@segments_app.command("create")
def create_command(
    site_id: SiteArg,
    name: Annotated[str, typer.Argument(help="the segment's name")],
    definition: DefinitionFile,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a segment and evaluate its members."""
    body = _read_definition(definition)
    with _service(database_url) as service:
        made = service.create(site_id, name, body)
    err.print(f"segment {made.segment_id} created: {made.members} members")
    echo_json(made.to_json())


@segments_app.command("preview")
def preview_command(
    site_id: SiteArg,
    definition: DefinitionFile,
    sample: Annotated[int, typer.Option(help="how many members to show")] = 20,
    database_url: DatabaseUrl = None,
) -> None:
    """How many people a definition matches now, with a sample; nothing is saved."""
    body = _read_definition(definition)
    with _service(database_url) as service:
        echo_json(service.preview(site_id, body, sample))


@segments_app.command("show")
def show_command(
    site_id: SiteArg, segment_id: SegmentArg, database_url: DatabaseUrl = None
) -> None:
    """One segment with its count history and latest entries and exits."""
    with _service(database_url) as service:
        echo_json(service.history(site_id, segment_id))


@segments_app.command("delete")
def delete_command(
    site_id: SiteArg, segment_id: SegmentArg, database_url: DatabaseUrl = None
) -> None:
    """Delete a segment (its number is never reused)."""
    with _service(database_url) as service:
        service.delete(site_id, segment_id)
    err.print(f"segment {segment_id} deleted")


@segments_app.command("export")
def export_command(
    site_id: SiteArg,
    segment_id: SegmentArg,
    with_profile: Annotated[
        bool,
        typer.Option(
            "--with-profile",
            help="add the contacts' ids, e-mail, phone, names and city (decrypted: mind where "
            "the file goes)",
        ),
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """The segment's contacts as CSV on stdout (anonymous visitors are not exported).

    With ``--with-profile``, a member that is no longer a live contact (erased, or merged
    into another since the last refresh) is left out: its profile is gone or another's.
    """
    columns = ["contact_id", "entered_at"]
    if with_profile:
        columns += PROFILE_COLUMNS
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore")
    exported = 0
    with _service(database_url) as service:
        service.get(site_id, segment_id)  # an unknown segment: an error, not an empty CSV
        writer.writeheader()
        assert service.keyring is not None
        contacts = ContactService(service.engine, service.keyring) if with_profile else None
        after: str | None = None
        while True:
            page = service.contacts_page(site_id, segment_id, after, 1000)
            rows = page["contacts"]
            if contacts is not None:
                profiles = contacts.profiles(site_id, [r["contact_id"] for r in rows])
                rows = [
                    {**r, **{k: profiles[r["contact_id"]].get(k) for k in PROFILE_COLUMNS}}
                    for r in rows
                    if r["contact_id"] in profiles
                ]
            writer.writerows(rows)
            exported += len(rows)
            after = page["next"]
            if after is None:
                break
    err.print(f"{exported} contacts exported")
