"""The ingestion routes: small, no sessions, CORS open where the tracker needs it.

They are plain Starlette endpoints rather than FastAPI ones: this is the hot path, and the
bodies are read by our own limit-checked parser anyway.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shoptrack.collector.pipeline import RequestMeta
from shoptrack.collector.service import BatchOutcome, Collector
from shoptrack.collector.sites import api_key_from_headers
from shoptrack.collector.wire import read_rest_event, read_webevent
from shoptrack.errors import Reason, ShoptrackError, Unauthorized

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(content), status_code=status, media_type="application/json", headers=headers
    )


def error_response(
    error: ShoptrackError,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {"error": error.to_dict()}
    if extra:
        body.update(extra)
    if error.status == 503:
        headers = {**(headers or {}), "Retry-After": "1"}
    return json_response(body, error.status, headers)


def batch_response(
    outcome: BatchOutcome,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """200 when anything was stored; 400 naming the first problem when nothing was."""
    body = outcome.to_json()
    if extra:
        body.update(extra)
    if outcome.accepted or not outcome.rejected:
        return json_response(body, 200, headers)
    body["error"] = outcome.rejected[0].error.to_dict()
    return json_response(body, 400, headers)


def _site_named_in(raw: bytes, *path: str) -> str | None:
    """The site id a refused body names, when it can be read: the refusal is listed there."""
    try:
        value: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


def collector_of(request: Request) -> Collector:
    collector: Collector = request.app.state.services.collector
    return collector


async def _refuse(
    collector: Collector,
    error: ShoptrackError,
    meta: RequestMeta,
    *,
    site_id: str | None,
    source: str,
    endpoint: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """Keep the refused body with its reason, then answer with the error."""
    if error.status != 503:
        try:
            await collector.reject_body(
                error, error.kept_body, site_id=site_id, source=source, endpoint=endpoint, meta=meta
            )
        except ShoptrackError as store_error:
            return error_response(store_error, headers)
    return error_response(error, headers)


async def webevent(request: Request) -> Response:
    collector = collector_of(request)
    meta = collector.request_meta(request)
    site_id: str | None = None
    raw = b""
    try:
        settings = collector.settings
        body, raw = await collector.read_json(
            request, settings.max_body_bytes, settings.max_events_per_batch
        )
        if isinstance(body, dict) and isinstance(body.get("site_id"), str):
            site_id = body["site_id"]
        site_id, candidates, _envelope = read_webevent(
            body, collector.settings.max_events_per_batch, meta.received_ms
        )
        if not await collector.sites.exists(site_id):
            raise ShoptrackError(
                Reason.UNKNOWN_SITE, f"site {site_id[:64]!r} does not exist", "site_id"
            )
        outcome = await collector.ingest(candidates, meta, source="browser", endpoint="webevent")
    except ShoptrackError as error:
        error.kept_body = error.kept_body or raw
        # A body refused as a whole (too deep, too long…) is still the named site's to see.
        site_id = site_id or _site_named_in(error.kept_body, "site_id")
        return await _refuse(
            collector,
            error,
            meta,
            site_id=site_id,
            source="browser",
            endpoint="webevent",
            headers=CORS_HEADERS,
        )
    return batch_response(outcome, CORS_HEADERS)


async def webevent_preflight(_request: Request) -> Response:
    return Response(status_code=204, headers=CORS_HEADERS)


async def rest_v2(request: Request) -> Response:
    """One server-side event in the hosted platform's REST format."""
    collector = collector_of(request)
    meta = collector.request_meta(request)
    raw = b""
    site_id: str | None = None
    key_site: str | None = None
    try:
        key = api_key_from_headers(request.headers)
        key_site = await collector.sites.site_for_key(key) if key else None
        if key and key_site is None:
            raise Unauthorized("the API key is not valid")
        body, raw = await collector.read_json(request, collector.settings.max_body_bytes)
        candidate = read_rest_event(
            body, site_id_from_key=key_site, authenticated=key_site is not None
        )
        if candidate.incoming is not None:
            site_id = candidate.incoming.site_id
            if not await collector.sites.exists(site_id):
                raise ShoptrackError(
                    Reason.UNKNOWN_SITE,
                    f"site {site_id[:64]!r} does not exist",
                    "GeneralInfo.siteId",
                )
        outcome = await collector.ingest([candidate], meta, source="rest", endpoint="api/v2")
    except ShoptrackError as error:
        error.kept_body = error.kept_body or raw
        site_id = site_id or key_site or _site_named_in(error.kept_body, "GeneralInfo", "siteId")
        return await _refuse(
            collector, error, meta, site_id=site_id, source="rest", endpoint="api/v2"
        )
    if outcome.rejected:
        refused = outcome.rejected[0].error
        return json_response({"error": refused.to_dict()}, refused.status)
    return json_response({"ok": True, "id": outcome.accepted[0].id})


def ingestion_routes(event_path: str) -> list[Route]:
    return [
        Route(event_path, webevent, methods=["POST"]),
        Route(event_path, webevent_preflight, methods=["OPTIONS"]),
        Route("/api/v2", rest_v2, methods=["POST"]),
        Route("/api/v2/", rest_v2, methods=["POST"]),
    ]
