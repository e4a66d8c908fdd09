"""``shoptrack serve`` runs the processors as a child ``shoptrack worker`` process.

Why a process and not a thread: the collector's hot path is Python and holds the GIL for most
of a request; processors in a thread of the same process took that GIL for ~40% of the time
under load, and halved ingestion. In a child process they run on another core.

The child lives and dies with its parent:

* it reads its stdin, a pipe from the parent, until end of file: when the parent exits, even
  by ``kill -9``, the pipe closes and the child stops after its current batch (a batch and
  its cursor move commit together, so nothing is done twice or lost);
* the parent restarts a child that died, with a growing pause, and logs why;
* on a normal stop the parent closes the pipe, waits, and kills the child only if it hangs.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from shoptrack.metrics.exposition import mark_process_dead

log = logging.getLogger(__name__)

_FIRST_RESTART_DELAY_S = 0.5
_MAX_RESTART_DELAY_S = 30.0
# A child that ran this long before it died is restarted without the grown pause.
_HEALTHY_RUN_S = 60.0


class WorkerProcess:
    """A supervised ``shoptrack worker`` child (started by ``shoptrack serve``)."""

    def __init__(self, database_url: str, stop_timeout_s: float = 30.0) -> None:
        self._argv = [sys.executable, "-m", "shoptrack", "worker", "--exit-with-parent"]
        # In the environment, not the arguments: a PostgreSQL URL may hold a password, and
        # every user of the machine can read a process's arguments.
        self._env = {**os.environ, "SHOPTRACK_DATABASE_URL": database_url}
        self._stop_timeout_s = stop_timeout_s
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._supervisor = threading.Thread(
            target=self._supervise, name="worker-supervisor", daemon=True
        )
        self._supervisor.start()

    def _spawn(self) -> bool:
        """Start a child, unless stopping began (checked under the lock ``stop`` takes too)."""
        with self._lock:
            if self._stopping.is_set():
                return False
            # The worker reads the same SHOPTRACK_* environment and working directory as serve.
            self._process = subprocess.Popen(self._argv, stdin=subprocess.PIPE, env=self._env)
        return True

    def _respawn(self, delay: float) -> bool:
        """Start a new child after ``delay``, retrying while the system refuses (EMFILE…)."""
        while not self._stopping.wait(delay):
            try:
                return self._spawn()
            except OSError as exc:
                log.error("could not start the processor worker (%s); retrying", exc)
                delay = min(delay * 2, _MAX_RESTART_DELAY_S)
        return False

    def _supervise(self) -> None:
        delay = _FIRST_RESTART_DELAY_S
        while not self._stopping.is_set():
            with self._lock:
                process = self._process
            assert process is not None
            started = time.monotonic()
            code = process.wait()
            # Its counters stay in the scrape (summed with its successor's); live gauges go.
            mark_process_dead(process.pid)
            if self._stopping.is_set():
                return
            if time.monotonic() - started > _HEALTHY_RUN_S:
                delay = _FIRST_RESTART_DELAY_S
            log.error("the processor worker exited (code %s); restarting in %.1fs", code, delay)
            if not self._respawn(delay):
                return
            delay = min(delay * 2, _MAX_RESTART_DELAY_S)

    def stop(self) -> None:
        """Ask the child to finish its batch and exit; kill it if it does not in time."""
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # end of file: the child's signal to stop
        try:
            process.wait(self._stop_timeout_s)
        except subprocess.TimeoutExpired:
            log.error(
                "the processor worker did not stop in %.0fs; killing it", self._stop_timeout_s
            )
            process.kill()
            process.wait()
        if self._supervisor is not None:
            self._supervisor.join()


def stop_when_parent_exits(stop: Callable[[], None]) -> None:
    """In the child: call ``stop`` once stdin (the pipe from the parent) reaches end of file.

    The child's life then hangs on the pipe alone: SIGINT and SIGTERM are ignored, so a signal
    sent to the whole group (Ctrl-C, systemd's stop) lets serve stop it in order instead of
    racing serve's shutdown (which then took the exit for a crash and started a new one).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def watch() -> None:
        # The raw descriptor, not sys.stdin: a daemon thread blocked inside a buffered read
        # holds its lock, and the interpreter aborts on it at exit.
        try:
            while os.read(0, 4096):
                pass  # the parent never writes; anything it did is ignored
        except OSError:
            pass
        stop()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
