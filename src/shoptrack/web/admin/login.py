"""Signing in and out, and ``/admin`` itself (the sites the user may see)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from shoptrack.accounts.sessions import same_token
from shoptrack.accounts.throttle import LoginThrottle
from shoptrack.accounts.users import UserRepository
from shoptrack.web.admin.pages import (
    LOGIN_PATH,
    SignedInUser,
    check_csrf,
    page_context,
    services_of,
    session_store,
    signed_in_or_none,
)
from shoptrack.web.admin.security import (
    ADMIN_PREFIX,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    cookie_is_secure,
    transport_refusal,
)
from shoptrack.web.admin.templating import render_template

router = APIRouter(include_in_schema=False)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of the dashboard, never another site."""
    if (
        value
        and value.startswith(ADMIN_PREFIX)
        and "\\" not in value
        and not value.startswith(LOGIN_PATH)
    ):
        return value
    return ADMIN_PREFIX


def _login_page(
    request: Request, token: str, next_path: str, email: str, error: str | None, status: int
) -> HTMLResponse:
    values = page_context(request, user=None, sites=[], site_id=None, csrf_token=token)
    refusal = transport_refusal(request, services_of(request).settings.admin_allow_http)
    html = render_template(
        "login.html",
        {**values, "next": next_path, "email": email, "error": error or refusal},
    )
    response = HTMLResponse(html, status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path=LOGIN_PATH,
        httponly=True,
        samesite="strict",
        secure=cookie_is_secure(request),
    )
    return response


@router.get(LOGIN_PATH, name="admin_login")
async def login_form(request: Request, next: str | None = None) -> Response:
    if await signed_in_or_none(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    return _login_page(request, token, safe_next(next), "", None, 200)


@router.post(LOGIN_PATH, name="admin_login_submit")
async def login_submit(
    request: Request,
    email: Annotated[str, Form(max_length=400)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = ADMIN_PREFIX,
) -> Response:
    services = services_of(request)
    next_path = safe_next(next)
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    fresh = secrets.token_urlsafe(32)
    if not cookie_token or not same_token(cookie_token, csrf_token):
        message = "The sign-in form expired. Please sign in again."
        return _login_page(request, fresh, next_path, email, message, 403)
    refusal = transport_refusal(request, services.settings.admin_allow_http)
    if refusal is not None:
        return _login_page(request, fresh, next_path, email, refusal, 403)
    address = request.client.host if request.client else None
    throttle = LoginThrottle(services.engine)
    wait_ms = await run_in_threadpool(throttle.wait_ms, email, address)
    if wait_ms > 0:
        message = (
            "Too many failed sign-ins for this account or from this address. "
            f"Try again in {max(1, round(wait_ms / 1000))} s."
        )
        page = _login_page(request, fresh, next_path, email, message, 429)
        page.headers["Retry-After"] = str(max(1, round(wait_ms / 1000)))
        return page
    user = await run_in_threadpool(UserRepository(services.engine).authenticate, email, password)
    if user is None:
        await run_in_threadpool(throttle.failed, email, address)
        message = "The e-mail address or the password is not right."
        return _login_page(request, fresh, next_path, email, message, 401)
    await run_in_threadpool(throttle.succeeded, email)
    token, session = await run_in_threadpool(session_store(request).open, user.user_id)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max(1, (session.expires_at - session.created_at) // 1000),
        path=ADMIN_PREFIX,
        httponly=True,
        samesite="lax",
        secure=cookie_is_secure(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


@router.post(ADMIN_PREFIX + "/logout", name="admin_logout")
async def logout(request: Request, signed: SignedInUser) -> Response:
    await check_csrf(request, signed.session.csrf_token)
    token = request.cookies.get(SESSION_COOKIE, "")
    await run_in_threadpool(session_store(request).close, token)
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=ADMIN_PREFIX)
    return response


@router.get(ADMIN_PREFIX, name="admin_home")
async def home(request: Request, signed: SignedInUser) -> Response:
    """The sites the user may see; straight to the only one's overview when there is one."""
    values = page_context(
        request,
        user=signed.user,
        sites=signed.sites,
        site_id=None,
        csrf_token=signed.session.csrf_token,
    )
    if len(signed.sites) == 1 and values["site_home"]:
        target = values["url"](values["site_home"], site_id=signed.sites[0][0])
        return RedirectResponse(target, status_code=303)
    return HTMLResponse(render_template("home.html", values))
