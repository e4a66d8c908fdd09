"""The public recommendation endpoints (plain Starlette, CORS open).

* ``GET {recs_path}/{site_id}?variant=r12v34&visitor=&product=&products=a,b&category=
  &all_fields=1&filters=<JSON>&limit=N`` → ``{"products": [...]}``; an unknown variant
  answers 404 ``{"error": "variantId r12v34 was not found in config"}``, the string the
  tracker hands to its callback.
* ``GET {recs_path}/{site_id}/blocks?page_type=product&visitor=&preview=<token>`` →
  ``{"blocks": [...]}``: the live blocks of that page type (preview blocks only with their
  token), each with the visitor's variant.

Errors here are ``{"error": "<message>"}`` (a string, not the API's object), as the browser
call reports them. Both answer from memory; the visitor's recent events come from memory too
once loaded (``recommend/history.py``), else from the store or Redis on a worker thread.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shoptrack.errors import ShoptrackError
from shoptrack.metrics.instruments import instruments
from shoptrack.recommend.blocks import PAGE_TYPES, check_filters
from shoptrack.recommend.history import Item
from shoptrack.recommend.serving import RecommendationService, VariantNotFound
from shoptrack.web.cors import RECS_CORS
from shoptrack.web.responses import json_response

TRUE = frozenset({"1", "true", "yes", "on"})


def service_of(request: Request) -> RecommendationService:
    state = request.app.state
    service: RecommendationService | None = getattr(state, "recommend", None)
    if service is None:
        services = state.services
        service = state.recommend = RecommendationService(
            services.engine, services.settings, services.history
        )
    return service


def answer(content: Any, status: int = 200) -> Response:
    return json_response(content, status, RECS_CORS)


def split_keys(*values: str | None) -> list[str]:
    out: list[str] = []
    for value in values:
        out.extend(part.strip() for part in (value or "").split(",") if part.strip())
    return list(dict.fromkeys(out))


def parse_limit(text: str | None) -> int | None:
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise ValueError("limit must be 1..100")
    return int(text)


async def refuse_request(request: Request) -> Response | None:
    """An answer for a request that cannot be served: a malformed or unknown site, or NUL
    in a parameter (PostgreSQL text cannot hold it). Checked before anything is loaded, so
    made-up site ids can neither fill the per-site caches nor cost store queries."""
    site_id = request.path_params["site_id"]
    if not await request.app.state.services.sites.exists(site_id):
        return answer({"error": f"site {site_id[:64]!r} does not exist"}, 404)
    if any("\x00" in value for _, value in request.query_params.multi_items()):
        return answer({"error": "parameters must not contain NUL characters"}, 400)
    return None


async def recommendations(request: Request) -> Response:
    if (refused := await refuse_request(request)) is not None:
        return refused
    site_id = request.path_params["site_id"]
    q = request.query_params
    variant = q.get("variant") or q.get("variantId")
    if not variant:
        return answer({"error": "variant is required"}, 400)
    try:
        filters_text = q.get("filters")
        try:
            filters = check_filters(orjson.loads(filters_text)) if filters_text else None
        except orjson.JSONDecodeError:
            return answer({"error": "filters must be JSON"}, 400)
        limit = parse_limit(q.get("limit"))
    except ShoptrackError as exc:
        return answer({"error": exc.message}, 400)
    except ValueError as exc:
        return answer({"error": str(exc)}, 400)
    service = service_of(request)
    visitor = q.get("visitor") or None
    history: list[Item] | None = None

    def run() -> bytes:
        return service.recommend_json(
            site_id,
            variant,
            visitor=visitor,
            products=split_keys(q.get("product"), q.get("products")),
            category=q.get("category") or None,
            filters=filters,
            all_fields=(q.get("all_fields") or "").lower() in TRUE,
            limit=limit,
            history=history,
        )

    try:
        # A loaded, fresh site answers inline when the visitor's history is in this process's
        # memory (or there is no visitor), or was read from Redis on this loop: no thread hop.
        # Otherwise the request reads the store (or polls the log), which never runs on the
        # event loop (a slow query would stall every request).
        started = time.perf_counter()
        fresh = service.is_fresh(site_id)
        inline = fresh and service.history_ready(site_id, visitor)
        if fresh and not inline and visitor and service.history is not None:
            history = await service.history.shared_entry(site_id, visitor)
            inline = history is not None
        body = run() if inline else await run_in_threadpool(run)
        # The serving time alone (HTTP's share is in the request histogram).
        serving_time = instruments().recommendation_duration.labels("recommendations")
        serving_time.observe(time.perf_counter() - started)
    except VariantNotFound as exc:
        return answer({"error": exc.message}, 404)
    return Response(body, media_type="application/json", headers=RECS_CORS)


async def page_blocks(request: Request) -> Response:
    if (refused := await refuse_request(request)) is not None:
        return refused
    site_id = request.path_params["site_id"]
    q = request.query_params
    page_type = q.get("page_type") or "any"
    if page_type not in PAGE_TYPES:
        return answer({"error": f"page_type must be one of {', '.join(PAGE_TYPES)}"}, 400)
    service = service_of(request)
    args = (site_id, page_type, q.get("visitor") or None, q.get("preview"))
    started = time.perf_counter()
    if service.is_fresh(site_id):
        blocks = service.page_blocks(*args)
    else:
        blocks = await run_in_threadpool(service.page_blocks, *args)
    serving_time = instruments().recommendation_duration.labels("page_blocks")
    serving_time.observe(time.perf_counter() - started)
    return answer({"blocks": blocks})


async def preflight(_request: Request) -> Response:
    return Response(status_code=204, headers=RECS_CORS)


def recommendation_routes(path: str) -> list[Route]:
    base = "/" + path.strip("/")
    return [
        Route(f"{base}/{{site_id}}/blocks", page_blocks, methods=["GET"]),
        Route(f"{base}/{{site_id}}/blocks", preflight, methods=["OPTIONS"]),
        Route(f"{base}/{{site_id}}", recommendations, methods=["GET"]),
        Route(f"{base}/{{site_id}}", preflight, methods=["OPTIONS"]),
    ]
