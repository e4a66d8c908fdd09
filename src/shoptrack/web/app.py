"""The ASGI application: ingestion routes, the /api/v1 API and the health check."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from shoptrack import __version__
from shoptrack.catalog.service import CatalogService
from shoptrack.config import Settings, get_settings
from shoptrack.processing.runner import run_in_background
from shoptrack.services import Services
from shoptrack.web.admin import install_admin
from shoptrack.web.api.blocks import contact_router as contact_recs_router
from shoptrack.web.api.blocks import router as blocks_router
from shoptrack.web.api.catalog import router as catalog_router
from shoptrack.web.api.contacts import router as contacts_router
from shoptrack.web.api.events import router as events_router
from shoptrack.web.api.processor_failures import router as processor_failures_router
from shoptrack.web.api.reports import router as reports_router
from shoptrack.web.api.segments import router as segments_router
from shoptrack.web.api.triggers import router as triggers_router
from shoptrack.web.docs import docs_routes
from shoptrack.web.handlers import install_error_handlers
from shoptrack.web.health import HealthCheck, HealthFailure
from shoptrack.web.hosts import TrustedHosts
from shoptrack.web.index import HEALTH_PATH
from shoptrack.web.index import router as index_router
from shoptrack.web.ingest import IngestionEndpoints
from shoptrack.web.metrics import router as metrics_router
from shoptrack.web.openapi import refine
from shoptrack.web.openapi_paths import HEALTH_RESPONSES, describe_plain_routes, plain_route_items
from shoptrack.web.recs import recommendation_routes
from shoptrack.web.redirects import install_slash_redirects
from shoptrack.web.request_metrics import RequestMetrics, route_template
from shoptrack.web.responses import error_response, json_response
from shoptrack.web.scripts import tracker_routes
from shoptrack.web.unsubscribe import unsubscribe_routes


class ShoptrackApp(FastAPI):
    """FastAPI, with the ingestion endpoints served ahead of its middleware stack.

    Ingestion is the hot path: a collector request dispatched here costs a fraction of one that
    goes through FastAPI's middlewares and router (see web/ingest.py). Everything else,
    lifespan included, is FastAPI's. Mind that a middleware added with ``add_middleware`` does
    not see the ingestion paths: what they need (CORS, limits, errors) they do themselves.
    """

    ingestion: IngestionEndpoints
    trusted_hosts: TrustedHosts
    request_metrics: RequestMetrics
    # The schema's path items of the routes FastAPI does not generate (web/openapi_paths.py).
    plain_routes: dict[str, dict[str, Any]]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        refusal = self.trusted_hosts.refusal(scope)
        if refusal is not None:
            await refusal.send(send)
            self._count(route_template(scope), scope, refusal.status, started)
            return
        endpoint = self.ingestion.endpoint_for(scope)
        if endpoint is not None:
            scope["app"] = self
            status = await self.ingestion.serve(endpoint, scope, receive, send)
            self._count(endpoint.route, scope, status, started)
            return
        status = 500  # unless an answer starts: an exception escaped every handler

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await super().__call__(scope, receive, send_noting_status)
        finally:
            # Starlette's router put the matched route in the scope (a template, not the path).
            self._count(route_template(scope), scope, status, started)

    def _count(self, route: str, scope: Scope, status: int, started: float) -> None:
        self.request_metrics.record(route, scope["method"], status, time.perf_counter() - started)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's generated schema, with the error answers our handlers really give, and
        the routes it does not know of (ingestion, /recs, /scripts)."""
        if self.openapi_schema is None:
            self.openapi_schema = describe_plain_routes(
                refine(super().openapi()), self.plain_routes
            )
        return self.openapi_schema


def create_app(settings: Settings | None = None) -> ShoptrackApp:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await run_in_threadpool(Services.build, settings)
        app.state.services = services
        services.writer.start()
        app.state.health = HealthCheck(services.engine, services.writer)
        app.state.catalog = catalog = CatalogService(services.engine, settings)
        if settings.run_processors:
            catalog.start_scheduler()  # scheduled feed imports, beside the processors
        # Processors (identity linking, …) in-process unless separate workers do it.
        stop_processors = asyncio.Event()
        processors = (
            asyncio.create_task(run_in_background(services.runner, stop_processors))
            if settings.run_processors
            else None
        )
        try:
            yield
        finally:
            stop_processors.set()
            if processors is not None:
                await processors
            await run_in_threadpool(catalog.close)
            if services.history is not None:
                await services.history.aclose()
            await services.writer.close()
            services.engine.dispose()

    # /docs is served by docs_routes (assets from an installed package, not a CDN).
    app = ShoptrackApp(
        title="shoptrack", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.ingestion = IngestionEndpoints(settings.event_path)
    app.request_metrics = RequestMetrics()
    app.plain_routes = plain_route_items(settings)
    app.trusted_hosts = TrustedHosts.from_settings(settings)
    install_slash_redirects(app.router, settings.public_url)
    # The router tries its routes in order, and /recs is asked on every product page: first,
    # it is matched at once instead of after every /api/v1 route (about 55 µs a request).
    app.router.routes.extend(recommendation_routes(settings.recs_path))
    app.include_router(index_router)
    app.router.routes.extend(docs_routes(app.openapi_url or "/openapi.json", app.title))
    app.router.routes.extend(tracker_routes(settings))
    app.include_router(events_router)
    # Its /contacts/recommendations must come before the contacts router's /contacts/{id}.
    app.include_router(contact_recs_router)
    app.include_router(contacts_router)
    app.include_router(catalog_router)
    app.router.routes.extend(unsubscribe_routes())
    app.include_router(blocks_router)
    app.include_router(reports_router)
    app.include_router(processor_failures_router)
    app.include_router(triggers_router)
    app.include_router(segments_router)
    app.include_router(metrics_router)

    install_admin(app)
    install_error_handlers(app)

    @app.get(
        HEALTH_PATH,
        tags=["health"],
        summary="200 when ingestion can work, else 503",
        responses=HEALTH_RESPONSES,
    )
    async def healthz(request: Request) -> Response:
        health: HealthCheck = request.app.state.health
        failure = health.cached()
        if failure is False:
            failure = await run_in_threadpool(health.check)
        if isinstance(failure, HealthFailure):
            return error_response(failure.error(), extra={"status": "unavailable"})
        return json_response({"status": "ok", "version": __version__})

    return app
