"""The trailing-slash redirects (``/api/v1/events/`` → ``/api/v1/events``), without the Host.

Starlette's own (``redirect_slashes``) writes ``Location`` from the request's Host header.
Ours writes it from ``SHOPTRACK_PUBLIC_URL`` when that is set, else as a path alone (a
relative reference, RFC 9110 §10.2.2): the browser resolves it against the address it asked,
so no header a client sends ends up in the answer.
"""

from __future__ import annotations

from starlette.responses import RedirectResponse
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Receive, Scope, Send


def install_slash_redirects(router: Router, public_url: str | None) -> None:
    """Replace the router's slash redirects by ours; unmatched paths still get its 404."""
    router.redirect_slashes = False
    router.default = SlashRedirects(router, router.default, public_url)


def get_route_path(scope: Scope) -> str:
    """The path below the app's mount point (``root_path``), as the routes see it."""
    path, root = str(scope["path"]), str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


class SlashRedirects:
    def __init__(self, router: Router, not_found: ASGIApp, public_url: str | None) -> None:
        self.router = router
        self.not_found = not_found
        self.base = public_url.rstrip("/") if public_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route_path = get_route_path(scope)
        # "//host/…" would read as another server's address in a relative Location.
        if scope["type"] == "http" and route_path != "/" and not route_path.startswith("//"):
            other = dict(scope)
            if route_path.endswith("/"):
                other["path"] = scope["path"].rstrip("/")
            else:
                other["path"] = scope["path"] + "/"
            if any(route.matches(other)[0] is not Match.NONE for route in self.router.routes):
                await RedirectResponse(self.location(other))(scope, receive, send)
                return
        await self.not_found(scope, receive, send)

    def location(self, scope: Scope) -> str:
        query = scope.get("query_string", b"").decode("latin-1")
        suffix = "?" + query if query else ""
        if self.base is not None:
            return self.base + get_route_path(scope) + suffix
        return str(scope["path"]) + suffix
