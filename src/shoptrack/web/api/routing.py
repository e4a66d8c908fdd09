"""The /api/v1 routes' order of checks: the API key first, then the body.

FastAPI parses a route's JSON body before it resolves the dependencies, the key check
(:func:`~shoptrack.web.auth.require_site`) among them: a request without a key but with a
body that is not UTF-8 was answered 400 "There was an error parsing the body" instead of 401,
telling an anonymous client how its body was read. :class:`KeyFirstRoute` checks the key
before FastAPI's handler runs, then refuses a body that is not text in the error shape,
naming the body, as the routes that read their body themselves do, and a query parameter
given twice (FastAPI would take the last value and ignore the others).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from shoptrack.errors import Reason, ShoptrackError
from shoptrack.web.auth import site_of_request


def _check_text(body: bytes) -> None:
    """The body decodes as JSON text would (``json.loads`` detects UTF-8, -16 or -32)."""
    try:
        body.decode(json.detect_encoding(body), "surrogatepass")
    except UnicodeDecodeError as exc:
        raise ShoptrackError(
            Reason.INVALID_JSON,
            f"the body is not valid JSON: byte {exc.start} is not UTF-8 text",
            "body",
        ) from None


def _check_single_values(request: Request) -> None:
    """No query parameter given twice: FastAPI would silently use the last value of
    ``limit=5&limit=x`` (no /api/v1 parameter is a list)."""
    params = request.query_params
    if len(params) == len(params.multi_items()):
        return
    seen: set[str] = set()
    for name, _ in params.multi_items():
        if name in seen:
            raise ShoptrackError(Reason.INVALID_VALUE, f"{name[:64]}: given more than once", name)
        seen.add(name)


class KeyFirstRoute(APIRoute):
    """An /api/v1 route: 401 without a valid key whatever the body, then the body's checks."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def key_first(request: Request) -> Response:
            await site_of_request(request)
            _check_single_values(request)
            if takes_body:
                _check_text(await request.body())
            return await handler(request)

        return key_first
