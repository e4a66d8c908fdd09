"""The failures a command meets before it can work, told in one line with what to do.

A corrupted SQLite file, an unreachable PostgreSQL, a failed migration or a missing key used to
end ``shoptrack serve`` with a ~470-line traceback; the cause was on one of those lines. Now
``main`` prints :func:`explain_failure`'s line and exits 1 (2 for bad settings); ``--debug``
or ``SHOPTRACK_LOG_LEVEL=debug`` still shows the traceback.
"""

from __future__ import annotations

import os

from alembic.util.exc import CommandError
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from shoptrack.identity.crypto import KeyMaterialError
from shoptrack.store.db import store_problem

DOCTOR_HINT = "run `shoptrack doctor` for what to do"


def debug_wanted() -> bool:
    return bool(os.environ.get("SHOPTRACK_DEBUG")) or (
        os.environ.get("SHOPTRACK_LOG_LEVEL", "").lower() == "debug"
    )


def explain_failure(exc: BaseException) -> tuple[str, int] | None:
    """(one line, exit status) for a failure we can explain; None for a bug (traceback)."""
    if isinstance(exc, KeyMaterialError):
        return str(exc), 1
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"SHOPTRACK_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        )
        return f"invalid settings: {problems}", 2
    if isinstance(exc, CommandError):
        return f"the database migrations failed: {exc}; {DOCTOR_HINT}", 1
    if isinstance(exc, SQLAlchemyError):
        return f"the store cannot be used: {store_problem(exc)}; {DOCTOR_HINT}", 1
    if isinstance(exc, OSError) and exc.filename:
        # A file the store or the keys need: unreadable directory, full disk, permissions.
        return f"{exc.strerror or exc}: {exc.filename}; {DOCTOR_HINT}", 1
    return None
