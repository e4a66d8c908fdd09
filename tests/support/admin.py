"""Signing in to the dashboard from tests: a TestClient over HTTPS with the session cookie."""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.testclient import TestClient

from shoptrack.accounts.users import UserRepository

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    match = _CSRF.search(page)
    assert match, "the page has no csrf_token field"
    return match.group(1)


class AdminClient(TestClient):
    """A browser-like client of the dashboard: its own cookies, HTTPS (so Secure cookies come
    back), redirects not followed unless asked."""

    site_id: str
    email: str

    def sign_in(
        self, email: str, password: str = PASSWORD, next_path: str = "/admin"
    ) -> httpx.Response:
        form = self.get("/admin/login", params={"next": next_path})
        assert form.status_code == 200, form.text
        return self.post(
            "/admin/login",
            data={
                "email": email,
                "password": password,
                "csrf_token": csrf_of(form.text),
                "next": next_path,
            },
        )

    def csrf(self) -> str:
        """The session's CSRF token, as a page's forms carry it."""
        return csrf_of(self.get("/admin/login?next=/admin", follow_redirects=True).text)

    def submit(
        self, path: str, data: dict[str, Any] | None = None, **kwargs: Any
    ) -> httpx.Response:
        """POST a dashboard form with the session's CSRF token."""
        return self.post(path, data={"csrf_token": self.csrf(), **(data or {})}, **kwargs)


def admin_client_for(
    client: TestClient, site_id: str, email: str = "staff@example.com", *, admin: bool = False
) -> AdminClient:
    """A signed-in client of the app behind ``client`` (whose lifespan already runs), as a
    user who may see ``site_id`` (or every site when ``admin``)."""
    users = UserRepository(client.app.state.services.engine)  # type: ignore[attr-defined]
    users.create(email, PASSWORD, is_admin=admin)
    if not admin:
        users.grant(email, site_id)
    browser = AdminClient(client.app, base_url="https://testserver", follow_redirects=False)
    browser.site_id, browser.email = site_id, email
    answer = browser.sign_in(email)
    assert answer.status_code == 303, answer.text
    return browser
