"""CORS, only where the tracker needs it: the event endpoint and the public /recs answers.

The browser tracker posts events and reads recommendations from the shop's pages, another
origin: those answers allow any origin (they need no credentials and carry none). The API
under /api/v1 is for the shop's servers and sends no CORS headers at all.
"""

from __future__ import annotations

from shoptrack.web.responses import RawHeaders

_COMMON = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}
EVENTS_CORS = {**_COMMON, "Access-Control-Allow-Methods": "POST, OPTIONS"}
RECS_CORS = {**_COMMON, "Access-Control-Allow-Methods": "GET, OPTIONS"}


def raw_headers(headers: dict[str, str]) -> RawHeaders:
    """``headers`` pre-encoded for a plain-ASGI reply."""
    return tuple((k.lower().encode(), v.encode()) for k, v in headers.items())
