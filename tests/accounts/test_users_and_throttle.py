"""Dashboard users, sessions and the sign-in throttle, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from shoptrack.accounts.sessions import SessionStore
from shoptrack.accounts.throttle import LoginThrottle, ThrottlePolicy
from shoptrack.accounts.users import UserRepository
from shoptrack.errors import Conflict, NotFound, ShoptrackError
from shoptrack.store import tables as t
from shoptrack.store.sites_repo import SiteRepository

PASSWORD = "correct horse battery"


def test_users_are_created_once_by_normalised_email_and_hashed(engine: Engine) -> None:
    users = UserRepository(engine)
    user = users.create("  Ann@Example.COM ", PASSWORD)
    assert user.email == "ann@example.com"
    with pytest.raises(Conflict):
        users.create("ann@example.com", PASSWORD)
    with engine.connect() as conn:
        stored = conn.execute(select(t.dashboard_users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert users.authenticate("ANN@example.com", PASSWORD) == users.get(user.user_id)
    assert users.authenticate("ann@example.com", "wrong password") is None
    assert users.authenticate("nobody@example.com", PASSWORD) is None


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [("not-an-address", PASSWORD, "email"), ("a@b.example", "short", "password")],
)
def test_bad_users_are_refused_naming_the_field(
    engine: Engine, email: str, password: str, field: str
) -> None:
    with pytest.raises(ShoptrackError) as refused:
        UserRepository(engine).create(email, password)
    assert refused.value.field == field


def test_grants_decide_the_visible_sites_and_delete_ends_sessions(engine: Engine) -> None:
    sites = SiteRepository(engine)
    shop, _ = sites.create("Shop", "shop")
    sites.create("Other", "other")
    users = UserRepository(engine)
    user = users.create("ann@example.com", PASSWORD)
    assert users.visible_sites(user) == []
    with pytest.raises(NotFound):
        users.grant("ann@example.com", "missing")
    user = users.grant("ann@example.com", shop.site_id)
    assert users.visible_sites(user) == [("shop", "Shop")]
    admin = users.create("root@example.com", PASSWORD, is_admin=True)
    assert [s for s, _ in users.visible_sites(admin)] == ["shop", "other"]
    sessions = SessionStore(engine, 60_000)
    token, _ = sessions.open(user.user_id)
    assert sessions.find(token) is not None
    users.delete("ann@example.com")
    assert sessions.find(token) is None
    assert [u.email for u in users.all()] == ["root@example.com"]


def test_sessions_expire_and_are_stored_only_as_digests(engine: Engine) -> None:
    sessions = SessionStore(engine, lifetime_ms=-1)  # already expired when made
    token, _ = sessions.open("u_1")
    assert sessions.find(token) is None
    live = SessionStore(engine, 60_000)
    token, session = live.open("u_1")
    assert live.find(token) == session
    with engine.connect() as conn:
        hashes = conn.execute(select(t.dashboard_sessions.c.token_hash)).scalars().all()
    assert token not in hashes
    live.close(token)
    assert live.find(token) is None


def test_throttle_waits_double_after_the_free_failures_then_forgets(engine: Engine) -> None:
    throttle = LoginThrottle(engine, ThrottlePolicy(free_failures=3, window_ms=60_000))
    now = 1_000_000
    for i in range(3):
        assert throttle.wait_ms("ann@example.com", "10.0.0.1", now + i) == 0
        throttle.failed("ann@example.com", "10.0.0.1", now + i)
    assert throttle.wait_ms("ann@example.com", "10.0.0.1", now + 2) == 2_000
    throttle.failed("ann@example.com", "10.0.0.1", now + 3)
    assert throttle.wait_ms("ann@example.com", "10.0.0.9", now + 3) == 4_000  # per account
    assert throttle.wait_ms("bob@example.com", "10.0.0.1", now + 3) == 4_000  # per address
    assert throttle.wait_ms("bob@example.com", "10.0.0.9", now + 3) == 0
    assert throttle.wait_ms("ann@example.com", "10.0.0.1", now + 70_000) == 0  # window passed
    throttle.succeeded("ann@example.com")
    assert throttle.wait_ms("ann@example.com", "10.0.0.9", now + 3) == 0
