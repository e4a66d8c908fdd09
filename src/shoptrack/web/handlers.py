"""The exception handlers that give every FastAPI-served failure the one error shape.

Our own errors (:class:`ShoptrackError`), FastAPI's request validation (400 naming the field,
never 422), Starlette's routing refusals (404 unknown path, 405 wrong method) and anything
unexpected (500) all answer ``{"error": {"code", "message", "field"}}``. The ingestion paths
answer alike on their own (web/ingest.py); the public ``/recs`` handlers keep their
``{"error": "<string>"}`` for the tracker's callback, as they build their answers themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match, Mount

from shoptrack.errors import MethodNotAllowed, NotFound, Reason, ShoptrackError, Unavailable
from shoptrack.store.db import store_problem
from shoptrack.web.admin.errors import page_for_status
from shoptrack.web.admin.security import is_admin_path
from shoptrack.web.responses import error_response

# Where a validation error points: the leading part says where the value came from.
_LOCATIONS = frozenset({"path", "query", "header", "cookie", "body"})
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Reasons of the HTTP errors raised by Starlette or FastAPI themselves, by status.
_REASON_OF_STATUS = {
    400: Reason.INVALID_VALUE,
    401: Reason.UNAUTHORIZED,
    403: Reason.FORBIDDEN,
    404: Reason.NOT_FOUND,
    405: Reason.METHOD_NOT_ALLOWED,
    413: Reason.BODY_TOO_LARGE,
    503: Reason.UNAVAILABLE,
}


def validation_error(errors: Sequence[Any]) -> ShoptrackError:
    """The first problem FastAPI found in a request, named by its field (``variants.0.weight``)."""
    first: dict[str, Any] = dict(errors[0]) if errors else {}
    kind = str(first.get("type", ""))
    location = [str(part) for part in first.get("loc", ())]
    if location and location[0] in _LOCATIONS:
        source, location = location[0], location[1:]
    else:
        source = ""
    if kind == "json_invalid":
        detail = (first.get("ctx") or {}).get("error") or first.get("msg", "")
        return ShoptrackError(Reason.INVALID_JSON, f"the body is not valid JSON: {detail}")
    field = ".".join(location) or (source if source == "body" else None)
    problem = str(first.get("msg", "invalid value"))
    if kind == "missing":
        message = "a JSON body is required" if field == "body" else f"{field}: is required"
        return ShoptrackError(Reason.MISSING_FIELD, message, field)
    message = f"{field}: {problem}" if field else problem
    return ShoptrackError(Reason.INVALID_VALUE, message, field)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts on this path. Starlette's own ``Allow`` names only the
    first route that matched the path, though e.g. GET and POST /api/v1/blocks are two routes;
    each method is tried against the app's routes instead."""
    # A Mount (the docs' static files) matches any method; the app behind it decides.
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
               for route in routes)
    ]  # fmt: skip


def http_error(request: Request, exc: HTTPException) -> Response:
    headers = dict(exc.headers or {})
    path = request.url.path[:200]
    if exc.status_code == 404:
        return error_response(NotFound(f"nothing is served at {path}"), headers)
    if exc.status_code == 405:
        allowed = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
        message = f"{request.method[:16]} is not allowed on {path}"
        if allowed:
            headers["Allow"] = allowed
            message += f"; use {allowed}"
        return error_response(MethodNotAllowed(message), headers)
    error = ShoptrackError(
        _REASON_OF_STATUS.get(exc.status_code, Reason.INVALID_VALUE), str(exc.detail)
    )
    error.status = exc.status_code
    return error_response(error, headers)


def install_error_handlers(app: FastAPI) -> None:
    # Under /admin a person reads the answer: the same errors as a page (web/admin/errors.py).
    @app.exception_handler(ShoptrackError)
    async def _shoptrack_error(request: Request, exc: ShoptrackError) -> Response:
        if is_admin_path(request.url.path):
            return await page_for_status(request, exc.status, exc.message)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        error = validation_error(exc.errors())
        if is_admin_path(request.url.path):
            return await page_for_status(request, error.status, error.message)
        return error_response(error)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if is_admin_path(request.url.path) and exc.status_code in (404, 405):
            message = "There is no page here." if exc.status_code == 404 else "Not allowed."
            return await page_for_status(request, exc.status_code, message)
        return http_error(request, exc)

    @app.exception_handler(SQLAlchemyError)
    async def _store_error(_request: Request, exc: SQLAlchemyError) -> Response:
        # The store failed, not the request: 503 (retry), and the driver's line only.
        return error_response(Unavailable(f"the store is unavailable: {store_problem(exc)}"))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Starlette logs the exception and re-raises it after this answer is sent.
        error = ShoptrackError(Reason.INTERNAL, "internal error")
        error.status = 500
        return error_response(error)
