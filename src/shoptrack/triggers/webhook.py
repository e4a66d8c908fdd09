"""Webhook delivery: a JSON POST signed as the Standard Webhooks specification says.

Headers: ``webhook-id`` (the message id: receivers de-duplicate retries by it),
``webhook-timestamp`` (Unix seconds of this attempt), ``webhook-signature``
(``v1,<base64 HMAC-SHA256 over "id.timestamp.body">`` with the site's secret,
``triggers/webhook_secret.py``). Body::

    {"type": "trigger.abandoned_cart", "timestamp": "2026-12-04T10:00:00.000Z",
     "data": {"message_id", "site_id", "rule", "contact_id", "email"?, "products",
              "recommendations", "unsubscribe_url", "extra"}}

Outcome: 2xx ``SENT``; 5xx, 429, a timeout or a failed connection ``RETRY``; any other answer
(4xx, and 3xx: redirects are not followed, so a signed body never goes where the site did not
say) ``FAILED``. Like feed URLs, a webhook URL may not resolve to a loopback, private or
link-local address unless ``SHOPTRACK_WEBHOOK_ALLOW_PRIVATE_HOSTS`` is set; the check is the
catalogue's pinned transport (``catalog/pinning.py``): the name is resolved once, every address
checked, and the connection made to a checked address, so DNS rebinding gains nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from shoptrack import __version__
from shoptrack.catalog.errors import FeedError, FeedErrorCode
from shoptrack.catalog.pinning import PinnedTransport, system_resolver
from shoptrack.config import Settings
from shoptrack.triggers.links import http_url, with_tracked_links
from shoptrack.triggers.model import Channel, DeliveryResult, Outcome, OutgoingMessage
from shoptrack.triggers.webhook_secret import WebhookSecretError, WebhookSecrets

USER_AGENT = f"shoptrack/{__version__} (webhook)"


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def payload(message: OutgoingMessage) -> dict[str, Any]:
    data: dict[str, Any] = {
        "message_id": message.message_id,
        "site_id": message.site_id,
        "rule": message.rule.value,
        "contact_id": message.contact_id,
    }
    if message.email:
        data["email"] = message.email
    data["products"] = [asdict(p) for p in message.products]
    data["recommendations"] = [asdict(p) for p in message.recommendations]
    data["unsubscribe_url"] = message.unsubscribe_url
    data["extra"] = dict(message.extra)
    created = datetime.fromtimestamp(message.created_at_ms / 1000, tz=UTC)
    return {
        "type": f"trigger.{message.rule.value}",
        "timestamp": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data": data,
    }


def post_signed(
    url: str, webhook_id: str, body: bytes, secret: str, timeout_s: float, allow_private: bool
) -> DeliveryResult:
    """POST ``body`` to ``url`` signed with ``secret`` (Standard Webhooks), through the pinned
    transport; the answer as an outcome (see the module's docstring)."""
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
    }
    where = _short(url)
    transport = PinnedTransport(httpx.HTTPTransport(), system_resolver, allow_private)
    try:
        with httpx.Client(
            timeout=httpx.Timeout(timeout_s), follow_redirects=False, transport=transport
        ) as client:
            response = client.post(url, content=body, headers=headers)
    except FeedError as exc:
        if exc.code is not FeedErrorCode.PRIVATE_ADDRESS:
            raise
        return DeliveryResult(
            Outcome.FAILED,
            f"{where} resolves to a private or local address; webhook URLs must be public, "
            "or set SHOPTRACK_WEBHOOK_ALLOW_PRIVATE_HOSTS=true for the sending process",
        )
    except httpx.TimeoutException:
        return DeliveryResult(Outcome.RETRY, f"timed out posting to {where}")
    except httpx.HTTPError as exc:
        return DeliveryResult(Outcome.RETRY, f"cannot post to {where}: {type(exc).__name__}")
    status = response.status_code
    answer = f"{where} answered HTTP {status}"
    if 200 <= status < 300:
        return DeliveryResult(Outcome.SENT, answer)
    if status >= 500 or status == 429:
        return DeliveryResult(Outcome.RETRY, answer)
    return DeliveryResult(Outcome.FAILED, answer)


class WebhookDelivery:
    channel = Channel.WEBHOOK

    def __init__(self, settings: Settings, secrets: WebhookSecrets) -> None:
        self.secrets = secrets
        self.timeout_s = settings.webhook_timeout_s
        self.allow_private_hosts = settings.webhook_allow_private_hosts

    def send(self, message: OutgoingMessage, attempt: int) -> DeliveryResult:
        url = http_url(message.webhook_url)
        if url is None:
            return DeliveryResult(Outcome.FAILED, "no http(s) webhook URL for this rule")
        try:
            secret = self.secrets.secret_for(message.site_id)
        except WebhookSecretError as exc:
            return DeliveryResult(Outcome.FAILED, str(exc))
        body = orjson.dumps(payload(with_tracked_links(message)))
        return post_signed(
            url, message.message_id, body, secret, self.timeout_s, self.allow_private_hosts
        )


def _short(url: str) -> str:
    """Scheme, host and path: a webhook URL's query may carry the receiver's token."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"
