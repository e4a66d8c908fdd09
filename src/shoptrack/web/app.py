"""The ASGI application: ingestion routes, the /api/v1 API and the health check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import text
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from shoptrack import __version__
from shoptrack.catalog.service import CatalogService
from shoptrack.config import Settings, get_settings
from shoptrack.processing.runner import run_in_background
from shoptrack.services import Services
from shoptrack.web.api.blocks import contact_router as contact_recs_router
from shoptrack.web.api.blocks import router as blocks_router
from shoptrack.web.api.catalog import router as catalog_router
from shoptrack.web.api.contacts import router as contacts_router
from shoptrack.web.api.events import router as events_router
from shoptrack.web.api.processor_failures import router as processor_failures_router
from shoptrack.web.api.reports import router as reports_router
from shoptrack.web.docs import docs_routes
from shoptrack.web.handlers import install_error_handlers
from shoptrack.web.index import HEALTH_PATH
from shoptrack.web.index import router as index_router
from shoptrack.web.ingest import IngestionEndpoints
from shoptrack.web.openapi import refine
from shoptrack.web.recs import recommendation_routes
from shoptrack.web.responses import json_response
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self.ingestion.endpoint_for(scope)
            if endpoint is not None:
                scope["app"] = self
                await self.ingestion.serve(endpoint, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's generated schema, with the error answers our handlers really give."""
        if self.openapi_schema is None:
            self.openapi_schema = refine(super().openapi())
        return self.openapi_schema


def create_app(settings: Settings | None = None) -> ShoptrackApp:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await run_in_threadpool(Services.build, settings)
        app.state.services = services
        services.writer.start()
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
            await services.writer.close()
            services.engine.dispose()

    # /docs is served by docs_routes (assets from an installed package, not a CDN).
    app = ShoptrackApp(
        title="shoptrack", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.ingestion = IngestionEndpoints(settings.event_path)
    app.include_router(index_router)
    app.router.routes.extend(docs_routes(app.openapi_url or "/openapi.json", app.title))
    app.router.routes.extend(tracker_routes(settings))
    app.include_router(events_router)
    # Its /contacts/recommendations must come before the contacts router's /contacts/{id}.
    app.include_router(contact_recs_router)
    app.include_router(contacts_router)
    app.include_router(catalog_router)
    app.router.routes.extend(recommendation_routes(settings.recs_path))
    app.router.routes.extend(unsubscribe_routes())
    app.include_router(blocks_router)
    app.include_router(reports_router)
    app.include_router(processor_failures_router)

    install_error_handlers(app)

    @app.get(HEALTH_PATH, tags=["health"], summary="200 when the event store answers")
    async def healthz(request: Request) -> Response:
        services: Services = request.app.state.services

        def ping() -> None:
            with services.engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(ping)
        except Exception as exc:
            return json_response({"status": "unavailable", "store": type(exc).__name__}, 503)
        return json_response({"status": "ok", "version": __version__})

    return app
