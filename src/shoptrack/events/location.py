"""Which recommendation block a page was reached from: its URL's ``sc_content``.

Read by the collector (the canonical event's ``location``) and by the reports (a landing
from a block), so it lives with the events both read.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit


def location_from_url(url: str | None) -> str | None:
    """The ``sc_content`` query parameter of a page URL: the recommendation block it came from."""
    if not url or "sc_content=" not in url:
        return None
    return _sc_content(url)


@lru_cache(maxsize=4096)
def _sc_content(url: str) -> str | None:
    """Cached: the events of a batch, and the visitors of a page, share their page URL."""
    try:
        query = urlsplit(url).query
    except ValueError:  # e.g. a malformed IPv6 host: a page URL is the client's text
        return None
    for key, value in parse_qsl(query, keep_blank_values=False):
        if key == "sc_content" and value:
            return value
    return None
