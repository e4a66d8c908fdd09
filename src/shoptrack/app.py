"""The ASGI application: ingestion routes, the /api/v1 API and the health check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from sqlalchemy import text
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from shoptrack import __version__
from shoptrack.api.catalog import router as catalog_router
from shoptrack.api.contacts import router as contacts_router
from shoptrack.api.events import router as events_router
from shoptrack.api.processor_failures import router as processor_failures_router
from shoptrack.catalog.service import CatalogService
from shoptrack.collector.routes import IngestionEndpoints, error_response, json_response
from shoptrack.config import Settings, get_settings
from shoptrack.errors import Reason, ShoptrackError
from shoptrack.recommend.api import contact_router as contact_recs_router
from shoptrack.recommend.routes import install as install_recommendations
from shoptrack.reports.api import router as reports_router
from shoptrack.services import Services
from shoptrack.tracker.script import tracker_routes
from shoptrack.worker import run_in_background


class ShoptrackApp(FastAPI):
    """FastAPI, with the ingestion endpoints served ahead of its middleware stack.

    Ingestion is the hot path: a collector request dispatched here costs a fraction of one that
    goes through FastAPI's middlewares and router (see collector/routes.py). Everything else,
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
            asyncio.create_task(run_in_background(services.identity.runner, stop_processors))
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

    app = ShoptrackApp(
        title="shoptrack", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None
    )
    app.ingestion = IngestionEndpoints(settings.event_path)
    app.router.routes.extend(tracker_routes(settings))
    app.include_router(events_router)
    # Its /contacts/recommendations must come before the contacts router's /contacts/{id}.
    app.include_router(contact_recs_router)
    app.include_router(contacts_router)
    app.include_router(catalog_router)
    install_recommendations(app, settings)  # {recs_path}/… and /api/v1/blocks
    app.include_router(reports_router)
    app.include_router(processor_failures_router)

    @app.exception_handler(ShoptrackError)
    async def _shoptrack_error(_request: Request, exc: ShoptrackError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        location = [str(part) for part in first.get("loc", ()) if part not in ("query", "body")]
        field = ".".join(location) or None
        message = f"{field}: {first.get('msg', 'invalid value')}" if field else "invalid request"
        return error_response(ShoptrackError(Reason.INVALID_VALUE, message, field))

    @app.get("/healthz", tags=["health"], summary="200 when the event store answers")
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
