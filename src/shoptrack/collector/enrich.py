"""What the server adds to an event: receive time, trusted time, session, coarse IP, user agent.

Scrubbing personal data out of what is stored is :mod:`shoptrack.events.scrub`'s."""

from __future__ import annotations

import ipaddress
import re
import secrets
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Any

from ua_parser import parse as parse_user_agent_string

_BOT_HINTS = re.compile(
    r"bot|crawl|spider|slurp|headless|lighthouse|preview|fetch|monitor|"
    r"curl|wget|python-|httpx|java/|go-http|phantomjs|pingdom",
    re.I,
)


@lru_cache(maxsize=16384)
def truncate_ip(raw: str | None) -> str | None:
    """The address with its host part zeroed (IPv4 /24, IPv6 /48): the full IP is never kept.

    Cached: a client sends many requests, and parsing an address costs more than the rest of
    the request's metadata.
    """
    if not raw:
        return None
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def describe_user_agent(raw: str) -> dict[str, Any]:
    """Browser, OS and device families plus a bot flag; cached because agents repeat a lot.

    Only the first 512 characters are read, and only they key the cache: a client cannot
    make the cache hold its whole (up to header-size) agent string.
    """
    return _describe_user_agent(raw[:512])


@lru_cache(maxsize=8192)
def _describe_user_agent(raw: str) -> dict[str, Any]:
    result = parse_user_agent_string(raw)
    device = result.device.family if result.device else None
    return {
        "browser": result.user_agent.family if result.user_agent else None,
        "browser_version": result.user_agent.major if result.user_agent else None,
        "os": result.os.family if result.os else None,
        "device": device,
        "is_bot": device == "Spider" or bool(_BOT_HINTS.search(raw)),
    }


def warm_up() -> None:
    """Load the user-agent parser's rules now rather than in the first request.

    They take a fraction of a second to a few seconds to build, during which the first
    request would hold up every other one on the event loop.
    """
    describe_user_agent("Mozilla/5.0 (X11; Linux x86_64) shoptrack-warm-up")


def trusted_time(
    client_ms: int | None,
    received_ms: int,
    clock_offset_ms: int,
    max_future_ms: int,
    max_age_ms: int | None,
) -> int:
    """When the event happened, as far as the server will believe the client.

    ``clock_offset_ms`` corrects a wrong client clock (server receive time minus the client's
    send time). Times further ahead than ``max_future_ms`` or older than ``max_age_ms`` are
    replaced by the receive time; the client's own value is kept separately.
    """
    if client_ms is None:
        return received_ms
    corrected = client_ms + clock_offset_ms
    if corrected > received_ms + max_future_ms:
        return received_ms
    if max_age_ms is not None and corrected < received_ms - max_age_ms:
        return received_ms
    return corrected


class Sessionizer:
    """Session ids for events that come without one (server-side REST): 30 minutes of quiet.

    Per process and in memory, bounded by an LRU; a browser's own session id always wins.
    """

    def __init__(self, timeout_ms: int, capacity: int = 200_000) -> None:
        self._timeout_ms = timeout_ms
        self._capacity = capacity
        self._last: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()
        self._lock = threading.Lock()

    def session_for(self, site_id: str, visitor_id: str, at_ms: int) -> str:
        key = (site_id, visitor_id)
        with self._lock:
            known = self._last.get(key)
            if known is not None and 0 <= at_ms - known[1] <= self._timeout_ms:
                session_id = known[0]
            elif known is not None and at_ms < known[1]:
                return known[0]  # a late event of a still-open session
            else:
                session_id = secrets.token_hex(8)
            self._last[key] = (session_id, max(at_ms, known[1] if known else at_ms))
            self._last.move_to_end(key)
            if len(self._last) > self._capacity:
                self._last.popitem(last=False)
            return session_id
