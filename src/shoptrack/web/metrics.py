"""``GET /metrics``: every process's counters in the Prometheus text format, for operators only.

Who may scrape (``SHOPTRACK_METRICS_TOKEN``):

* a token set: any client presenting ``Authorization: Bearer <token>`` (compared in constant
  time), from anywhere; everyone else 401;
* no token (the default): loopback clients only, and only when the request did not come
  through a proxy (no ``Forwarded``/``X-Forwarded-For``/``X-Real-IP``): behind a reverse proxy
  on the same machine every visitor would otherwise look local. Everyone else 403.

The forwarding headers are never trusted to *grant* access, whatever
``SHOPTRACK_TRUST_PROXY_HEADERS`` says: they are only a reason to refuse.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from shoptrack.errors import Forbidden, ShoptrackError, Unauthorized
from shoptrack.metrics.exposition import CONTENT_TYPE, Collector, render
from shoptrack.processing.lag import ProcessorLag
from shoptrack.services import Services
from shoptrack.triggers.queue_gauges import TriggerQueue
from shoptrack.web.responses import error_response

METRICS_PATH = "/metrics"
_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")

router = APIRouter()


def refusal(request: Request, token: str | None) -> ShoptrackError | None:
    """Why this request may not read the metrics, or None when it may."""
    if token:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), token.encode()
        ):
            return None
        return Unauthorized("the metrics need Authorization: Bearer <SHOPTRACK_METRICS_TOKEN>")
    if not _is_loopback(request.client.host if request.client else None):
        return Forbidden(
            "the metrics are served to loopback clients only; set SHOPTRACK_METRICS_TOKEN "
            "to scrape from elsewhere"
        )
    if any(name in request.headers for name in _FORWARDING_HEADERS):
        return Forbidden(
            "the metrics are not served through a proxy without a token; "
            "set SHOPTRACK_METRICS_TOKEN"
        )
    return None


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "testclient", a Unix socket's name: not an address we can vouch for


def store_gauges(services: Services) -> list[Collector]:
    """The gauges read from the store at scrape time (never summed over processes)."""
    names = [processor.name for processor in services.runner.processors]
    return [ProcessorLag(services.engine, names), TriggerQueue(services.engine)]


@router.get(METRICS_PATH, include_in_schema=False)
async def metrics(request: Request) -> Response:
    services: Services = request.app.state.services
    token = services.settings.metrics_token
    refused = refusal(request, token.get_secret_value() if token else None)
    if refused is not None:
        headers = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else None
        return error_response(refused, headers)
    body = await run_in_threadpool(render, store_gauges(services))
    return Response(body, media_type=CONTENT_TYPE)
