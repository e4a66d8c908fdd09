"""The real app on a real port, in this process: for a browser, which cannot use a TestClient.

Unlike ``shoptrack serve`` (``tests/support/server.py``) the test keeps the app's services:
it drains the processors itself and runs the trigger engine with its own clock, so nothing
happens behind its back and no time passes but the clock's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from shoptrack.config import Settings
from shoptrack.services import Services
from shoptrack.web.app import create_app


class LiveApp:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        config = uvicorn.Config(
            self.app, host=settings.host, port=settings.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="live-app", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    def start(self, timeout: float = 30.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start (see the log above)")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@contextmanager
def live_app(settings: Settings) -> Iterator[LiveApp]:
    """``settings.host``/``port`` say where it listens (take a free port)."""
    app = LiveApp(settings)
    app.start()
    try:
        yield app
    finally:
        app.stop()


def live_settings(**fields: Any) -> Settings:
    """Settings for a live app: processors drained by the test, no background refreshes."""
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "commit_interval_ms": 1,
        "run_processors": False,
        "recs_refresh_interval_s": 0,
        "recs_history_poll_s": 0,
    }
    return Settings(**{**base, **fields})
