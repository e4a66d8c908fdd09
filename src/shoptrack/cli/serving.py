"""How ``shoptrack serve`` runs its HTTP front: uvicorn or granian, in one process or N.

The web application is imported only by the functions that serve it: every other command
imports this module (through cli/main.py) and should not pay for FastAPI.

One process with uvicorn (``--workers 1 --http uvicorn``) serves the application object built
here, in serve's own process, as before. Every other arrangement starts HTTP worker processes
that each build the application themselves from :data:`APP_FACTORY`: serve first writes the
settings it was given on the command line into the environment the workers inherit, so every
worker reads the same settings as serve. Each worker then has its own group-commit writer (on
SQLite they take turns at the one write lock, store/db.py's ``WriteTurn``; on PostgreSQL they
commit in parallel); the one processor worker stays serve's own child (processing/supervisor.py).

The server's own supervisor restarts an HTTP worker that dies (uvicorn's multiprocess
supervisor; granian with ``respawn_failed_workers``), while the other workers keep answering
on the shared port. A worker whose serve died (``kill -9`` leaves no one to stop it) stops
itself: :func:`_exit_with_serve`.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

from shoptrack.config import Settings, get_settings

if TYPE_CHECKING:
    from shoptrack.web.app import ShoptrackApp

log = logging.getLogger(__name__)

HttpFront = Literal["uvicorn", "granian"]
HTTP_FRONTS: tuple[HttpFront, ...] = ("uvicorn", "granian")

# How `shoptrack serve` runs uvicorn (bench/ingest.py starts its empty handler with the same).
# uvloop and httptools are picked automatically (uvicorn[standard]); no access log: the
# collector's hot path should not write a line per request.
UVICORN_OPTIONS: dict[str, Any] = {"access_log": False, "server_header": False}

# What each HTTP worker process imports and calls to build its application.
APP_FACTORY = "shoptrack.cli.serving:worker_app"

# Set by serve for its HTTP workers: the pid they watch (see _exit_with_serve).
_SERVE_PID_VARIABLE = "SHOPTRACK_SERVE_PID"
_PARENT_POLL_S = 0.5
# A worker told to stop because serve is gone finishes its requests and group commit in
# this time, or ends at once (what it had not answered, the clients send again).
_ORPHAN_STOP_S = 10.0


def front_installed(front: HttpFront) -> bool:
    """Whether the HTTP server can be imported (granian is an optional dependency)."""
    return importlib.util.find_spec(front) is not None


def run_http(settings: Settings, front: HttpFront, workers: int) -> None:
    """Serve the application until stopped; returns after the server has shut down."""
    if front == "uvicorn" and workers == 1:
        import uvicorn

        from shoptrack.web.app import create_app

        application = create_app(settings)
        tune_garbage_collector()
        uvicorn.run(
            application,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            **UVICORN_OPTIONS,
        )
        return
    os.environ.update(worker_environment(settings))
    if front == "uvicorn":
        _run_uvicorn_workers(settings, workers)
    else:
        _run_granian(settings, workers)


def worker_environment(settings: Settings) -> dict[str, str]:
    """What serve adds to its HTTP workers' environment before it starts them.

    The settings serve may have been given on the command line, so that ``Settings()`` in a
    worker reads what serve read; and serve's pid, watched by each worker. A part that needs
    the same in every worker process (a directory shared by their metrics, say) belongs here.
    """
    return {
        "SHOPTRACK_HOST": settings.host,
        "SHOPTRACK_PORT": str(settings.port),
        "SHOPTRACK_DATABASE_URL": settings.database_url,
        "SHOPTRACK_RUN_PROCESSORS": "true" if settings.run_processors else "false",
        _SERVE_PID_VARIABLE: str(os.getpid()),
    }


def _run_uvicorn_workers(settings: Settings, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        APP_FACTORY,
        factory=True,
        workers=workers,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        **UVICORN_OPTIONS,
    )


def _run_granian(settings: Settings, workers: int) -> None:
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    # ASGI for the whole application: granian serves one interface per server, and its RSGI
    # interface has no lifespan (the group-commit writer starts and drains in it).
    server = Server(
        APP_FACTORY,
        factory=True,
        interface=Interfaces.ASGI,
        address=settings.host,
        port=settings.port,
        workers=workers,
        log_level=_granian_level(LogLevels, settings.log_level),
        log_access=False,
        # A killed worker is started again while the others keep the port; a worker that
        # dies again within seconds of its restart makes granian stop (a crash loop).
        respawn_failed_workers=True,
        respawn_interval=0.5,
    )
    server.serve()


def _granian_level(levels: Any, level: str) -> Any:
    """Granian's name for a log level; uvicorn's "trace" is granian's "debug"."""
    try:
        return levels(level.lower())
    except ValueError:
        return levels("debug" if level.lower() == "trace" else "info")


def worker_app() -> ShoptrackApp:
    """The application of one HTTP worker process (called by uvicorn or granian in it)."""
    serve_pid = os.environ.get(_SERVE_PID_VARIABLE)
    if serve_pid is not None and int(serve_pid) == os.getppid():
        _exit_with_serve(int(serve_pid))
    from shoptrack.web.app import create_app

    application = create_app(get_settings())
    tune_garbage_collector()
    return application


def _exit_with_serve(serve_pid: int) -> None:
    """Stop this worker once serve, its parent, is gone.

    Neither uvicorn's nor granian's workers notice their parent's death: after a ``kill -9``
    of serve they kept the port and went on writing to the store beside a restarted serve.
    """

    def watch() -> None:
        while os.getppid() == serve_pid:
            time.sleep(_PARENT_POLL_S)
        log.error("serve (pid %d) is gone; this HTTP worker stops", serve_pid)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(_ORPHAN_STOP_S)
        os._exit(1)

    threading.Thread(target=watch, name="serve-watch", daemon=True).start()


def tune_garbage_collector() -> None:
    """Keep the garbage collector off the server's hot path (`shoptrack serve`, and the benches).

    What the server imported and built at start (modules, the app, the user-agent rules)
    lives as long as the process: frozen, full collections no longer scan it. Unfrozen, under
    load, that was an ~80 ms pause every few seconds (the p99 latency) and a quarter of the
    CPU per request. A first generation of 10,000 allocations instead of 700 then makes
    collections rarer (requests free nearly everything by reference counting): another ~8%
    of the CPU per request.
    """
    from shoptrack.collector.enrich import warm_up

    warm_up()
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
