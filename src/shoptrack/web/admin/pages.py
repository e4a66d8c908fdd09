"""How a dashboard page is written: who is signed in, which site, rendering, redirects.

A GET page depends on :data:`SitePage`, a POST form on :data:`SiteForm` (which checks the
form's CSRF token too); both give an :class:`AdminContext`. A request that is not signed in is
sent to the sign-in page; a site the user may not see is a 404 (not a 403: whether a site
exists is not the user's business).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from shoptrack.accounts.sessions import Session, SessionStore, same_token
from shoptrack.accounts.users import User, UserRepository
from shoptrack.catalog.service import CatalogService
from shoptrack.config import Settings
from shoptrack.services import Services
from shoptrack.web.admin.nav import SITE_NAV
from shoptrack.web.admin.security import SESSION_COOKIE
from shoptrack.web.admin.templating import hidden_field, render_template

CSRF_FIELD = "csrf_token"
LOGIN_PATH = "/admin/login"


class AdminPageError(Exception):
    """Answered as an HTML page with this status and message (web/admin/errors.py)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message


class SignInRequired(Exception):
    """Answered by a redirect to the sign-in page, coming back to ``next_path`` after."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True)
class SignedIn:
    user: User
    session: Session
    sites: list[tuple[str, str]]


@dataclass(frozen=True)
class AdminContext:
    user: User
    site_id: str
    sites: list[tuple[str, str]]
    csrf_token: str
    services: Services
    catalog: CatalogService
    settings: Settings
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def site_name(self) -> str:
        return dict(self.sites).get(self.site_id, self.site_id)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def session_store(request: Request) -> SessionStore:
    services = services_of(request)
    hours = services.settings.admin_session_hours
    return SessionStore(services.engine, int(hours * 3_600_000))


def _load(request: Request, token: str) -> SignedIn | None:
    session = session_store(request).find(token)
    if session is None:
        return None
    users = UserRepository(services_of(request).engine)
    user = users.get(session.user_id)
    if user is None:
        return None
    return SignedIn(user, session, users.visible_sites(user))


async def signed_in_or_none(request: Request) -> SignedIn | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await run_in_threadpool(_load, request, token)


async def require_signed_in(request: Request) -> SignedIn:
    signed = await signed_in_or_none(request)
    if signed is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return signed


SignedInUser = Annotated[SignedIn, Depends(require_signed_in)]


def _context(request: Request, signed: SignedIn, site_id: str) -> AdminContext:
    if site_id not in dict(signed.sites):
        raise AdminPageError(404, "Not found", "There is no such site, or it is not yours to see.")
    return AdminContext(
        user=signed.user,
        site_id=site_id,
        sites=signed.sites,
        csrf_token=signed.session.csrf_token,
        services=services_of(request),
        catalog=request.app.state.catalog,
        settings=services_of(request).settings,
    )


async def site_page(request: Request, site_id: str, signed: SignedInUser) -> AdminContext:
    return _context(request, signed, site_id)


async def check_csrf(request: Request, expected: str) -> None:
    form = await request.form()  # Starlette keeps it: the handler's own read is free
    given = form.get(CSRF_FIELD)
    if not same_token(expected, given if isinstance(given, str) else None):
        raise AdminPageError(
            403,
            "Form expired",
            "This form's security token is missing or out of date. Go back, reload the page "
            "and send it again.",
        )


async def site_form(request: Request, site_id: str, signed: SignedInUser) -> AdminContext:
    context = _context(request, signed, site_id)
    await check_csrf(request, context.csrf_token)
    return context


SitePage = Annotated[AdminContext, Depends(site_page)]
SiteForm = Annotated[AdminContext, Depends(site_form)]


def _names(routes: Iterable[Any]) -> Iterator[str]:
    for route in routes:
        if name := getattr(route, "name", None):
            yield name
        # FastAPI keeps an included router as one entry (``_IncludedRouter``, no name) over
        # its ``original_router``: the names of the areas' pages are in there.
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _names(inner.routes)


def route_names(request: Request) -> set[str]:
    return set(_names(request.app.router.routes))


def page_context(
    request: Request,
    *,
    user: User | None,
    sites: list[tuple[str, str]],
    site_id: str | None,
    csrf_token: str | None,
) -> dict[str, Any]:
    """What base.html needs: the user, the site switcher, the site's navigation."""
    names = route_names(request)

    def url(name: str, **params: Any) -> str:
        return str(request.app.url_path_for(name, **{k: str(v) for k, v in params.items()}))

    nav = (
        [(label, url(name, site_id=site_id)) for label, name in SITE_NAV if name in names]
        if site_id is not None
        else []
    )
    return {
        "request_path": request.url.path,
        "user": user,
        "sites": sites,
        "site_id": site_id,
        "site_name": dict(sites).get(site_id or "", site_id),
        "site_home": "admin_overview" if "admin_overview" in names else None,
        "nav": nav,
        "url": url,
        "has_route": names.__contains__,
        "csrf_token": csrf_token,
        "csrf_field": lambda: hidden_field(CSRF_FIELD, csrf_token or ""),
        "logout_path": url("admin_logout"),
    }


def render(
    request: Request,
    context: AdminContext,
    template: str,
    data: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A page of a site, from ``web/admin/templates/<template>``."""
    values = page_context(
        request,
        user=context.user,
        sites=context.sites,
        site_id=context.site_id,
        csrf_token=context.csrf_token,
    )
    return HTMLResponse(render_template(template, {**values, **(data or {})}), status_code)


def see_other(url: str) -> Response:
    """After a POST form: the browser GETs ``url`` (so a reload does not send it again)."""
    return RedirectResponse(url, status_code=303)


def login_redirect(next_path: str) -> Response:
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(next_path, safe='')}", status_code=303)
