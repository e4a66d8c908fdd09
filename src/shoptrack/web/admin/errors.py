"""Errors under /admin are pages, not JSON: a person reads them."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from shoptrack.web.admin.pages import (
    AdminPageError,
    SignInRequired,
    login_redirect,
    page_context,
    signed_in_or_none,
)
from shoptrack.web.admin.templating import render_template

_TITLES = {400: "Bad request", 403: "Forbidden", 404: "Not found", 405: "Not allowed"}


async def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    signed = await signed_in_or_none(request)
    values = page_context(
        request,
        user=signed.user if signed else None,
        sites=signed.sites if signed else [],
        site_id=None,
        csrf_token=signed.session.csrf_token if signed else None,
    )
    html = await run_in_threadpool(
        render_template, "message.html", {**values, "title": title, "message": message}
    )
    return HTMLResponse(html, status)


async def page_for_status(request: Request, status: int, message: str) -> Response:
    return await error_page(request, status, _TITLES.get(status, "Something went wrong"), message)


def install_admin_errors(app: FastAPI) -> None:
    @app.exception_handler(AdminPageError)
    async def _page_error(request: Request, exc: AdminPageError) -> Response:
        return await error_page(request, exc.status, exc.title, exc.message)

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> Response:
        return login_redirect(exc.next_path)
