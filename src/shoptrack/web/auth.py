"""API-key authentication for /api/v1: the key names the site it acts for."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import Request, Security
from fastapi.openapi.models import HTTPBase, HTTPBearer
from fastapi.openapi.models import SecurityBase as SecuritySchemeModel
from fastapi.security.base import SecurityBase
from starlette.datastructures import Headers

from shoptrack.collector.limits import unstorable_reason
from shoptrack.errors import Reason, ShoptrackError, Unauthorized


def api_key_from_headers(headers: Headers) -> str | None:
    """The key from ``Authorization: Bearer KEY`` or ``Basic base64(user:KEY)``.

    Real plugins send ``Basic :KEY`` (empty user); a key given as the user with an empty
    password is accepted too.
    """
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, credentials = value.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError; so is non-ASCII
            return None
        user, _, password = decoded.partition(":")
        return password or user or None
    return None


class DeclaredKeyScheme(SecurityBase):
    """One way of sending the API key, declared as an OpenAPI security scheme.

    FastAPI lists the schemes of a route's security dependencies in the schema (Swagger UI's
    Authorize button). Reading the key is :func:`require_site`'s, for both schemes at once, so
    this dependency only declares and checks nothing.
    """

    def __init__(self, scheme_name: str, model: SecuritySchemeModel) -> None:
        self.scheme_name = scheme_name
        self.model = model

    async def __call__(self) -> None:
        return None


BEARER_KEY = DeclaredKeyScheme(
    "apiKey",
    HTTPBearer(description="The site's API key: `Authorization: Bearer <api_key>`"),
)
BASIC_KEY = DeclaredKeyScheme(
    "apiKeyBasic",
    HTTPBase(
        scheme="basic",
        description="The API key as the password of HTTP Basic with an empty user name "
        "(`Basic base64(':' + api_key)`), as the hosted platform's plugins send it",
    ),
)


async def site_of_request(request: Request) -> str:
    """The site id of the request's API key, or 401; looked up once per request (the route
    checks it before the body, web/api/routing.py, and the dependency again)."""
    known: str | None = getattr(request.state, "key_site", None)
    if known is not None:
        return known
    key = api_key_from_headers(request.headers)
    if key is None:
        raise Unauthorized("send the site's API key as 'Authorization: Bearer <key>'")
    site_id = await request.app.state.services.sites.site_for_key(key)
    if site_id is None:
        raise Unauthorized("the API key is not valid")
    request.state.key_site = site_id = str(site_id)
    return site_id


async def require_site(
    request: Request,
    _bearer: Annotated[None, Security(BEARER_KEY)],
    _basic: Annotated[None, Security(BASIC_KEY)],
) -> str:
    """The site id of the request's API key (``Authorization: Bearer KEY``), or 401.

    Every /api/v1 route depends on this, so it is also where path and query values with NUL
    (or a lone surrogate) are refused: PostgreSQL text cannot hold NUL, and such a value must
    be a 400, not a 500.
    """
    site_id = await site_of_request(request)
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        # Servers decode percent-escapes with errors="replace", so a lone surrogate cannot
        # arrive here today; the one rule of storable text is applied all the same.
        reason = unstorable_reason(value) if isinstance(value, str) else None
        if reason is not None:
            raise ShoptrackError(Reason.INVALID_VALUE, f"{name}: {reason}", name)
    return str(site_id)
