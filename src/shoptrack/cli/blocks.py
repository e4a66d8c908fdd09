"""``shoptrack blocks create|list|show|update|add-variant|set-status|delete`` and ``train``."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer

from shoptrack.cli.options import DatabaseUrl, err, settings_for

blocks_app = typer.Typer(help="Recommendation blocks and their A/B variants.", no_args_is_help=True)

Site = Annotated[str, typer.Option("--site", help="the site id")]
Json = Annotated[str | None, typer.Option(help="a JSON object")]


def _engine(database_url: str | None) -> Any:
    from shoptrack.services import open_store

    settings = settings_for(database_url)
    engine, _, _ = open_store(settings)
    return engine


def _json(text: str | None, name: str) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        err.print(f"[red]error:[/red] --{name} is not valid JSON")
        raise typer.Exit(2) from None


def _run(database_url: str | None, action: Any) -> None:
    from shoptrack.errors import ShoptrackError
    from shoptrack.recommend.blocks import BlockStore

    engine = _engine(database_url)
    try:
        result = action(BlockStore(engine))
    except ShoptrackError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    typer.echo(orjson.dumps(result).decode())


def _fields(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@blocks_app.command("create")
def create(
    site: Site,
    page_type: Annotated[
        str, typer.Option(help="main|category|product|cart|404|purchase|email|any")
    ],
    algorithm: Annotated[str, typer.Option(help="the first variant's algorithm")] = "popular",
    params: Json = None,
    name: Annotated[str | None, typer.Option()] = None,
    count: Annotated[int | None, typer.Option(help="products shown [10]")] = None,
    filters: Json = None,
    selector: Annotated[str | None, typer.Option(help="CSS selector to insert at")] = None,
    position: Annotated[
        str | None, typer.Option(help="beforebegin|afterbegin|beforeend|afterend")
    ] = None,
    template: Annotated[str | None, typer.Option(help="HTML template")] = None,
    title: Annotated[str | None, typer.Option()] = None,
    placement_id: Annotated[int | None, typer.Option(help="first number of container_type")] = None,
    status: Annotated[str, typer.Option(help="preview|live|paused")] = "preview",
    database_url: DatabaseUrl = None,
) -> None:
    """Create a block with one variant; prints the block as JSON."""
    fields = _fields(
        name=name, page_type=page_type, count=count, filters=_json(filters, "filters"),
        selector=selector, position=position, template=template, title=title,
        placement_id=placement_id,
    )  # fmt: skip
    variant = {"algorithm": algorithm, "params": _json(params, "params") or {}, "weight": 1.0}
    _run(
        database_url,
        lambda s: s.create(site, fields, [variant], status=status, actor="cli").to_json(),
    )


@blocks_app.command("list")
def list_blocks(site: Site, database_url: DatabaseUrl = None) -> None:
    """The site's blocks, one JSON line each."""

    from shoptrack.recommend.blocks import BlockStore

    engine = _engine(database_url)
    try:
        for block in BlockStore(engine).list_blocks(site):
            typer.echo(orjson.dumps(block.to_json()).decode())
    finally:
        engine.dispose()


@blocks_app.command("show")
def show(site: Site, block_id: int, database_url: DatabaseUrl = None) -> None:
    """One block with its change history."""
    _run(
        database_url,
        lambda s: {**s.get(site, block_id).to_json(), "history": s.history(site, block_id)},
    )


@blocks_app.command("update")
def update(
    site: Site,
    block_id: int,
    name: Annotated[str | None, typer.Option()] = None,
    page_type: Annotated[str | None, typer.Option()] = None,
    count: Annotated[int | None, typer.Option()] = None,
    filters: Json = None,
    selector: Annotated[str | None, typer.Option()] = None,
    position: Annotated[str | None, typer.Option()] = None,
    template: Annotated[str | None, typer.Option()] = None,
    title: Annotated[str | None, typer.Option()] = None,
    placement_id: Annotated[int | None, typer.Option()] = None,
    variant: Annotated[str | None, typer.Option(help="r{b}v{v} whose weight to set")] = None,
    weight: Annotated[float | None, typer.Option(help="the new weight of --variant")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change a block's fields (and a variant's weight with --variant/--weight)."""
    from shoptrack.recommend.blocks import parse_variant_id

    fields = _fields(
        name=name, page_type=page_type, count=count, filters=_json(filters, "filters"),
        selector=selector, position=position, template=template, title=title,
        placement_id=placement_id,
    )  # fmt: skip

    def action(store: Any) -> Any:
        block = store.update(site, block_id, fields, actor="cli")
        if variant is not None and weight is not None:
            parsed = parse_variant_id(variant)
            number = parsed[1] if parsed else int(variant)
            block = store.update_variant(site, block_id, number, weight=weight, actor="cli")
        return block.to_json()

    _run(database_url, action)


@blocks_app.command("add-variant")
def add_variant(
    site: Site,
    block_id: int,
    algorithm: Annotated[str, typer.Option()],
    params: Json = None,
    weight: Annotated[float, typer.Option()] = 1.0,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a weighted variant (at most 8 per block)."""
    p = _json(params, "params") or {}
    _run(
        database_url,
        lambda s: s.add_variant(site, block_id, algorithm, p, weight, actor="cli").to_json(),
    )


@blocks_app.command("set-status")
def set_status(site: Site, block_id: int, status: str, database_url: DatabaseUrl = None) -> None:
    """preview (shown only with the block's preview token), live, or paused (not served)."""
    _run(database_url, lambda s: s.set_status(site, block_id, status, actor="cli").to_json())


@blocks_app.command("delete")
def delete(site: Site, block_id: int, database_url: DatabaseUrl = None) -> None:
    """Delete a block: no longer listed or served (its reports stay); prints {"deleted": id}."""

    def action(store: Any) -> dict[str, int]:
        store.delete(site, block_id, actor="cli")
        return {"deleted": block_id}

    _run(database_url, action)


def train(
    site: Annotated[str | None, typer.Option("--site", help="only this site")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Retrain the recommendation models now (every site, or --site); one JSON line per site."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from shoptrack.recommend.training import all_sites, train_site

    engine = _engine(database_url)
    failed: list[str] = []
    include_bots = settings_for(database_url).include_bots
    try:
        targets = [site] if site else all_sites(engine)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err
        ) as progress:
            for target in targets:
                task = progress.add_task(f"{target}: reading", total=1.0)

                def step(
                    name: str, fraction: float, task: Any = task, target: str = target
                ) -> None:
                    progress.update(task, completed=fraction, description=f"{target}: {name}")

                try:
                    result = train_site(engine, target, step, include_bots=include_bots)
                except Exception as exc:  # say which site failed and why; train the others
                    failed.append(target)
                    progress.update(task, description=f"{target}: failed")
                    err.print(f"training {target} failed: {type(exc).__name__}: {exc}")
                    continue
                progress.update(task, completed=1.0, description=f"{target}: done")
                typer.echo(orjson.dumps(result.to_json()).decode())
    finally:
        engine.dispose()
    if failed:
        err.print(f"training failed for {', '.join(failed)}; the last good models keep serving")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(blocks_app, name="blocks")
    app.command("train")(train)
