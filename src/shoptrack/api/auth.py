"""API-key authentication for /api/v1: the key names the site it acts for."""

from __future__ import annotations

from fastapi import Request

from shoptrack.collector.sites import api_key_from_headers
from shoptrack.errors import Reason, ShoptrackError, Unauthorized


async def require_site(request: Request) -> str:
    """The site id of the request's API key (``Authorization: Bearer KEY``), or 401.

    Every /api/v1 route depends on this, so it is also where path and query values with NUL
    are refused: PostgreSQL text cannot hold NUL, and such a value must be a 400, not a 500.
    """
    key = api_key_from_headers(request.headers)
    if key is None:
        raise Unauthorized("send the site's API key as 'Authorization: Bearer <key>'")
    site_id = await request.app.state.services.sites.site_for_key(key)
    if site_id is None:
        raise Unauthorized("the API key is not valid")
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        if isinstance(value, str) and "\x00" in value:
            raise ShoptrackError(Reason.INVALID_VALUE, f"{name}: must not contain NUL", name)
    return str(site_id)
