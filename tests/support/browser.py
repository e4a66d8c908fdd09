"""Debian's Chromium through Playwright, for every browser test of the suite.

Without Chromium the browser tests are skipped with the reason, unless
``SHOPTRACK_REQUIRE_BROWSER=1`` (CI), where a missing browser fails them instead. Playwright
drives the system's ``/usr/bin/chromium``; it never downloads a browser of its own.

One Playwright driver serves the whole run (``playwright_driver`` in ``tests/conftest.py``):
its sync API parks an event loop in the main thread, so a second driver started while the
first lives would fail.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

REQUIRE_ENV = "SHOPTRACK_REQUIRE_BROWSER"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
# Headless Chromium names itself in its user agent ("HeadlessChrome"), and the server rightly
# takes it for a bot: a test of what a visitor's events start browses as a desktop Chrome.
DESKTOP_CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def chromium_path() -> str:
    """The system Chromium, or skip (fail when the browser is required) with the reason."""
    path = shutil.which("chromium")
    problem = None
    if path is None:
        problem = "Debian's chromium is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright Python package is missing (pip install -e '.[test]')"
    if problem is not None:
        if browser_required():
            pytest.fail(f"{REQUIRE_ENV} is set but {problem}", pytrace=False)
        pytest.skip(f"browser tests need Chromium: {problem}")
    assert path is not None
    return path


def launch_chromium(driver: Any) -> Any:
    """A headless Chromium of the system, from the run's Playwright driver."""
    return driver.chromium.launch(
        executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
    )
