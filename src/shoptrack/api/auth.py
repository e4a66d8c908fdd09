"""API-key authentication for /api/v1: the key names the site it acts for."""

from __future__ import annotations

from fastapi import Request

from shoptrack.collector.sites import api_key_from_headers
from shoptrack.errors import Unauthorized


async def require_site(request: Request) -> str:
    """The site id of the request's API key (``Authorization: Bearer KEY``), or 401."""
    key = api_key_from_headers(request.headers)
    if key is None:
        raise Unauthorized("send the site's API key as 'Authorization: Bearer <key>'")
    site_id = await request.app.state.services.sites.site_for_key(key)
    if site_id is None:
        raise Unauthorized("the API key is not valid")
    return str(site_id)
