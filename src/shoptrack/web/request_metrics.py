"""Per-request counting for every HTTP path: requests by route template and status, latency.

``ShoptrackApp`` calls :meth:`RequestMetrics.record` once per request, the ingestion paths
included. The labelled children are cached in plain dicts keyed by what labels them, so the
hot path skips prometheus-client's label lock and lookup; the keys are bounded (route templates,
a closed set of methods, status codes), never raw paths.
"""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

from shoptrack.metrics.instruments import instruments

# Anything else a client sends as a method is counted as OTHER (no series per invented verb).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The label of a request no route matched (404s of scanners and typos: one series, not many).
UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    """The matched route's template (``/api/v1/contacts/{contact_id}``), else ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestMetrics:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], Any] = {}
        self._latencies: dict[str, Any] = {}

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        counter = self._counts.get(key)
        if counter is None:
            known = method if method in _METHODS else "OTHER"
            metric = instruments().http_requests
            counter = self._counts[key] = metric.labels(route, known, str(status))
        counter.inc()
        latency = self._latencies.get(route)
        if latency is None:
            latency = self._latencies[route] = instruments().http_duration.labels(route)
        latency.observe(seconds)
