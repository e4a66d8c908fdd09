"""The ingestion endpoints: ``POST /webevent`` (CORS open for the tracker) and ``POST /api/v2``.

They are served as plain ASGI by :class:`IngestionEndpoints`, ahead of the FastAPI app (see
``ShoptrackApp``): this is the hot path, and FastAPI's middleware stack and router cost more
per request than the empty handler it is measured against. The bodies are read by our own
limit-checked reader anyway, and every answer is a pre-encoded :class:`~.responses.Reply`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from shoptrack.collector.limits import ClientDisconnected, may_hold_unstorable
from shoptrack.collector.pipeline import RequestMeta
from shoptrack.collector.service import Collector
from shoptrack.collector.wire import read_rest_event, read_webevent
from shoptrack.errors import MethodNotAllowed, Reason, ShoptrackError, Unauthorized, Unavailable
from shoptrack.store.db import store_problem
from shoptrack.web.auth import api_key_from_headers
from shoptrack.web.cors import EVENTS_CORS, raw_headers
from shoptrack.web.responses import RawHeaders, Reply, batch_payload

log = logging.getLogger(__name__)

_CORS = raw_headers(EVENTS_CORS)


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
    headers: RawHeaders = (),
) -> Reply:
    """Keep the refused body with its reason, then answer with the error."""
    if error.status != 503:
        try:
            await collector.reject_body(
                error, error.kept_body, site_id=site_id, source=source, endpoint=endpoint, meta=meta
            )
        except ShoptrackError as store_error:
            return Reply.error(store_error, headers)
    return Reply.error(error, headers)


async def webevent(request: Request) -> Reply:
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
        try:
            site_id, candidates, _envelope = read_webevent(
                body,
                settings.max_events_per_batch,
                meta.received_ms,
                check_strings=may_hold_unstorable(raw),
            )
        except ShoptrackError as error:
            raise error.at_step("envelope") from None
        if not await collector.sites.exists(site_id):
            raise ShoptrackError(
                Reason.UNKNOWN_SITE, f"site {site_id[:64]!r} does not exist", "site_id"
            ).at_step("site")
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
            headers=_CORS,
        )
    status, answer = batch_payload(outcome)
    return Reply.json(status, answer, _CORS)


async def webevent_preflight(_request: Request) -> Reply:
    return Reply(204, b"", _CORS)


async def rest_v2(request: Request) -> Reply:
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
            raise Unauthorized("the API key is not valid").at_step("auth")
        body, raw = await collector.read_json(request, collector.settings.max_body_bytes)
        # (read_json refused a string no store can hold, as for any body but a batch's events.)
        candidate = read_rest_event(
            body, site_id_from_key=key_site, authenticated=key_site is not None, check_strings=False
        )
        if candidate.incoming is not None:
            site_id = candidate.incoming.site_id
            if not await collector.sites.exists(site_id):
                raise ShoptrackError(
                    Reason.UNKNOWN_SITE,
                    f"site {site_id[:64]!r} does not exist",
                    "GeneralInfo.siteId",
                ).at_step("site")
        outcome = await collector.ingest([candidate], meta, source="rest", endpoint="api/v2")
    except ShoptrackError as error:
        error.kept_body = error.kept_body or raw
        site_id = site_id or key_site or _site_named_in(error.kept_body, "GeneralInfo", "siteId")
        return await _refuse(
            collector, error, meta, site_id=site_id, source="rest", endpoint="api/v2"
        )
    if outcome.rejected:
        return Reply.error(outcome.rejected[0].error)
    return Reply.json(200, {"ok": True, "id": outcome.accepted[0].id})


Handler = Callable[[Request], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The handlers of one ingestion path, and the headers its failures carry too."""

    route: str  # the path as the metrics name it (no trailing slash)
    methods: dict[str, Handler]
    failure_headers: RawHeaders = ()


class IngestionEndpoints:
    """Dispatch of the ingestion paths, as plain ASGI; every other path goes to the app."""

    def __init__(self, event_path: str) -> None:
        # Every answer of the tracker's path is CORS-open, failures included: a browser hides
        # an answer without them from the tracker, which then cannot tell what went wrong.
        tracker = Endpoint(event_path, {"POST": webevent, "OPTIONS": webevent_preflight}, _CORS)
        rest = Endpoint("/api/v2", {"POST": rest_v2})
        # With or without a trailing slash, as Starlette's router redirected before.
        self._paths = {
            event_path: tracker,
            event_path + "/": tracker,
            "/api/v2": rest,
            "/api/v2/": rest,
        }

    def endpoint_for(self, scope: Scope) -> Endpoint | None:
        """This request's endpoint, or None when the path is not an ingestion one."""
        return self._paths.get(_route_path(scope))

    async def serve(self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send) -> int:
        """Answer the request; return its status (499: the client left, nothing was sent)."""
        handler = endpoint.methods.get(scope["method"])
        if handler is None:
            allowed = ", ".join(endpoint.methods)
            refusal = MethodNotAllowed(f"{scope['method'][:16]} is not allowed here; use {allowed}")
            reply = Reply.error(refusal, ((b"allow", allowed.encode()), *endpoint.failure_headers))
        else:
            try:
                reply = await handler(Request(scope, receive))
            except ClientDisconnected:
                return 499  # nobody is left to answer; nothing of the request was stored
            except SQLAlchemyError as exc:
                # Whatever part of the store failed, nothing was acknowledged: the client
                # keeps the events and retries, as after any 503.
                log.error("ingestion request to %s: store error %s", scope["path"], type(exc))
                failure = Unavailable(f"the event store is unavailable: {store_problem(exc)}")
                reply = Reply.error(failure, endpoint.failure_headers)
            except Exception:
                # Never the body or its values: only where it failed.
                log.exception("ingestion request to %s failed", scope["path"])
                reply = Reply.json(
                    500,
                    {"error": {"code": "internal", "message": "internal error", "field": None}},
                    endpoint.failure_headers,
                )
        await reply.send(send)
        return reply.status


def _route_path(scope: Scope) -> str:
    """The path as Starlette's router sees it: without the prefix of a ``root_path``."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path
