"""The catalogue under /api/v1: feeds and their import reports, products, categories."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field
from starlette.responses import Response

from shoptrack.catalog.feeds import STATUS_RUNNING
from shoptrack.catalog.service import CatalogService
from shoptrack.catalog.sources import private_feed_warning
from shoptrack.errors import NotFound
from shoptrack.web.api.bodies import StoredBody
from shoptrack.web.api.routing import KeyFirstRoute
from shoptrack.web.auth import require_site
from shoptrack.web.responses import json_response

router = APIRouter(prefix="/api/v1", tags=["catalogue"], route_class=KeyFirstRoute)
SiteId = Annotated[str, Depends(require_site)]


def _catalog(request: Request) -> CatalogService:
    service: CatalogService = request.app.state.catalog
    return service


class FeedIn(StoredBody):
    url: str = Field(max_length=4096, description="http(s) address of the feed")
    schedule: str | None = Field(
        None, max_length=64, description="hourly, daily@03:00, weekly, weekly@mon@03:00, every 6h"
    )


@router.post("/feeds", status_code=201, summary="Register a feed (RSS, Atom or CSV by URL)")
async def add_feed(request: Request, site_id: SiteId, body: FeedIn) -> Response:
    catalog = _catalog(request)
    feed = await run_in_threadpool(
        catalog.feeds.add, site_id, body.url, body.schedule, allow_files=False
    )
    allowed = request.app.state.services.settings.feed_allow_private_hosts
    warning = await run_in_threadpool(private_feed_warning, feed.url, allowed)
    return json_response({**feed.to_json(), "warnings": [warning] if warning else []}, 201)


@router.get("/feeds", summary="The site's feeds with their last import")
async def list_feeds(request: Request, site_id: SiteId) -> Response:
    feeds = await run_in_threadpool(_catalog(request).feeds.list_feeds, site_id)
    return json_response({"feeds": [f.to_json() for f in feeds]})


@router.delete(
    "/feeds/{feed_id}",
    summary="Delete a feed with its schedule and import reports; its products stay unless purged",
)
async def delete_feed(
    request: Request,
    site_id: SiteId,
    feed_id: str,
    purge: Annotated[
        bool, Query(description="also remove the products this feed imported from the catalogue")
    ] = False,
) -> Response:
    result = await run_in_threadpool(_catalog(request).feeds.delete, site_id, feed_id, purge=purge)
    return json_response(result)


@router.post("/feeds/{feed_id}/import", summary="Import a feed now")
async def import_feed(
    request: Request,
    site_id: SiteId,
    feed_id: str,
    wait: Annotated[bool, Query(description="answer with the report when done")] = False,
    force: Annotated[bool, Query(description="ignore ETag / Last-Modified")] = False,
) -> Response:
    catalog = _catalog(request)
    feed = await run_in_threadpool(catalog.feeds.require, site_id, feed_id)
    if wait:
        outcome = await run_in_threadpool(catalog.import_now, feed, force=force)
        return json_response({"import": outcome.to_json()})
    import_id = await run_in_threadpool(catalog.import_in_background, feed, force=force)
    started = {"id": import_id, "feed_id": feed_id, "status": STATUS_RUNNING}
    return json_response({"import": started}, 202)


@router.get("/feeds/{feed_id}/imports", summary="Import reports of a feed, newest first")
async def list_imports(
    request: Request,
    site_id: SiteId,
    feed_id: str,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> Response:
    catalog = _catalog(request)
    await run_in_threadpool(catalog.feeds.require, site_id, feed_id)
    imports = await run_in_threadpool(catalog.feeds.imports, site_id, feed_id, limit)
    return json_response({"imports": imports})


@router.get("/products", summary="Products of the live catalogue")
async def list_products(
    request: Request,
    site_id: SiteId,
    category: Annotated[
        str | None, Query(description="a categoryKey: any level's name, a path or an id")
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="text in key, title, brand")] = None,
    in_stock: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(description="cursor from next_after")] = None,
) -> Response:
    products = await run_in_threadpool(
        _catalog(request).queries.products,
        site_id,
        category=category,
        q=q,
        in_stock=in_stock,
        limit=limit,
        after=after,
    )
    next_after = products[-1]["key"] if len(products) == limit else None
    return json_response({"products": products, "next_after": next_after})


@router.get("/products/{key:path}", summary="One product with its price and stock history")
async def get_product(request: Request, site_id: SiteId, key: str) -> Response:
    product = await run_in_threadpool(_catalog(request).queries.product, site_id, key)
    if product is None:
        raise NotFound(f"no product {key[:80]!r} in the catalogue", "key")
    return json_response(product)


@router.get("/categories", summary="The category tree of the live catalogue")
async def categories(request: Request, site_id: SiteId) -> Response:
    tree = await run_in_threadpool(_catalog(request).queries.category_tree, site_id)
    return json_response({"categories": tree})
