"""The demo's dashboard user, ``demo@example.com``, who may see the demo site."""

from __future__ import annotations

import secrets

from sqlalchemy import Engine

from shoptrack.accounts.users import UserRepository
from shoptrack.errors import NotFound

DEMO_USER = "demo@example.com"


def ensure_demo_user(engine: Engine, site_id: str, password: str | None) -> str | None:
    """Create the user (or set the password given), granted the demo site.

    Returns the password to show once: a generated one when the user was created without one
    given, else None (a given password is the caller's; an existing user keeps theirs).
    """
    users = UserRepository(engine)
    try:
        users.by_email(DEMO_USER)
    except NotFound:
        shown = None
        if password is None:
            password = shown = secrets.token_urlsafe(12)
        users.create(DEMO_USER, password)
        users.grant(DEMO_USER, site_id)
        return shown
    if password is not None:
        users.set_password(DEMO_USER, password)
    users.grant(DEMO_USER, site_id)
    return None
