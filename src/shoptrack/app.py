"""The ASGI application: ingestion routes, the /api/v1 API and the health check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from sqlalchemy import text
from starlette.responses import Response

from shoptrack import __version__
from shoptrack.api.events import router as events_router
from shoptrack.collector.routes import error_response, ingestion_routes, json_response
from shoptrack.config import Settings, get_settings
from shoptrack.errors import Reason, ShoptrackError
from shoptrack.services import Services


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await run_in_threadpool(Services.build, settings)
        app.state.services = services
        services.writer.start()
        try:
            yield
        finally:
            await services.writer.close()
            services.engine.dispose()

    app = FastAPI(
        title="shoptrack", version=__version__, lifespan=lifespan, docs_url="/docs", redoc_url=None
    )
    app.router.routes.extend(ingestion_routes(settings.event_path))
    app.include_router(events_router)

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
