"""Cached answers to "does this site exist?" and "whose API key is this?".

The hot path must not query the database for these on every request; a short negative TTL
lets a site created by the CLI in another process start working within seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from shoptrack.errors import Unavailable
from shoptrack.store.db import store_problem
from shoptrack.store.sites_repo import SiteRepository, is_valid_site_id

_T = TypeVar("_T")

_NEGATIVE_TTL_S = 3.0
_KEY_TTL_S = 60.0
# Our keys are "stk_" + 43 characters; anything much longer is not a key.
_MAX_KEY_LENGTH = 128


class SiteDirectory:
    def __init__(self, repo: SiteRepository) -> None:
        self._repo = repo
        self._known: set[str] = set()
        self._missing: dict[str, float] = {}
        self._keys: dict[str, tuple[str | None, float]] = {}

    async def exists(self, site_id: str) -> bool:
        """Whether the site exists; an id no site could have is answered without a query."""
        if site_id in self._known:
            return True
        if not is_valid_site_id(site_id):
            return False
        missing_since = self._missing.get(site_id)
        if missing_since is not None and time.monotonic() - missing_since < _NEGATIVE_TTL_S:
            return False
        site = await _from_store(self._repo.get, site_id)
        if site is None:
            if len(self._missing) > 10_000:
                self._missing.clear()
            self._missing[site_id] = time.monotonic()
            return False
        self._known.add(site_id)
        self._missing.pop(site_id, None)
        return True

    async def site_for_key(self, key: str) -> str | None:
        if len(key) > _MAX_KEY_LENGTH:
            return None  # not one of ours; and not worth a cache entry or a query
        cached = self._keys.get(key)
        if cached is not None and time.monotonic() - cached[1] < _KEY_TTL_S:
            return cached[0]
        site_id = await _from_store(self._repo.site_for_key, key)
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[key] = (site_id, time.monotonic())
        return site_id


async def _from_store(lookup: Callable[[str], _T], value: str) -> _T:
    """A repository lookup off the event loop; a store failure is a 503 (nothing acknowledged,
    the client retries), never a 500."""
    try:
        return await asyncio.get_running_loop().run_in_executor(None, lookup, value)
    except SQLAlchemyError as exc:
        raise Unavailable(f"the sites cannot be read: {store_problem(exc)}") from None
