"""What every dashboard answer carries, and when a sign-in cookie may travel.

The pages run no script of ours and load nothing from elsewhere, so the policy can be strict:
no scripts at all, styles and images from this server only, no framing.
"""

from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ADMIN_PREFIX = "/admin"
SESSION_COOKIE = "shoptrack_session"
LOGIN_CSRF_COOKIE = "shoptrack_login_csrf"

HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


class AdminHeaders:
    """Adds :data:`HEADERS` to every answer under /admin (pages, redirects, errors, assets)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_admin_path(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in HEADERS if n not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_is_secure(request: Request) -> bool:
    """Secure whenever the request came over HTTPS. Plain HTTP reaches sign-in only between
    loopback addresses (nothing crosses a network) or when the operator allowed it; a Secure
    cookie would not come back there."""
    return request.url.scheme == "https"


def transport_refusal(request: Request, allow_http: bool) -> str | None:
    """Why a password may not be sent over this connection, or ``None`` when it may."""
    if request.url.scheme == "https" or allow_http:
        return None
    client = request.client.host if request.client else None
    if _is_loopback(request.url.hostname) and _is_loopback(client):
        return None
    return (
        "signing in needs HTTPS: serve the dashboard behind TLS (or set "
        "SHOPTRACK_ADMIN_ALLOW_HTTP=true to allow plain HTTP, which sends the password "
        "in the clear)"
    )
