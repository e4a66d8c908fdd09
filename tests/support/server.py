"""A real shoptrack server in a subprocess, for tests that need a live port or a kill -9."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``shoptrack serve`` on a free port with the given database and key file."""

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
    ):
        self.database_url = database_url
        # More `serve` options (--workers, --http); SHOPTRACK_WORKERS and SHOPTRACK_HTTP_SERVER
        # in the environment apply otherwise, so a whole run can take another front.
        self.args = args or []
        self.workdir = workdir
        self.port = free_port()
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"server-{self.port}.log"
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0, *, new_port: bool = False) -> None:
        """Start (or start again, on the same database) and wait until healthy.

        ``new_port`` restarts on a fresh port: the old one, free since the kill, may have been
        taken meanwhile by any other process on the machine (parallel test runs do that).
        """
        if new_port:
            self.port = free_port()
        env = {
            **os.environ,
            **self.extra_env,
            "SHOPTRACK_DATABASE_URL": self.database_url,
            "SHOPTRACK_KEY_FILE": str(self.workdir / "shoptrack.keys"),
            "SHOPTRACK_LOG_LEVEL": "warning",
        }
        self._close_log()
        # One log for every start, so a failure message shows what happened before a restart.
        log = self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shoptrack", "serve", "--port", str(self.port), *self.args],
            cwd=self.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # A group of its own: crash() kills serve with all its HTTP workers at once.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        # A server that never became healthy must not outlive the test that started it.
        self.kill()
        raise RuntimeError(f"server did not start: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self._close_log()

    def crash(self) -> None:
        """SIGKILL to serve and every process it started, at once: the whole server crashes
        (a machine or container going down). ``kill`` hits serve alone, and with several HTTP
        workers those go on answering until they notice serve is gone."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self._close_log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def children(self) -> dict[int, str]:
        """The live child processes of serve: pid -> command line."""
        if self.process is None:
            return {}
        found: dict[int, str] = {}
        for listing in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            try:
                pids = [int(pid) for pid in listing.read_text().split()]
            except OSError:
                continue
            for pid in pids:
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                found[pid] = " ".join(part.decode(errors="replace") for part in argv).strip()
        return found

    def http_workers(self) -> list[int]:
        """serve's HTTP worker processes (not the processor worker, not multiprocessing's
        resource tracker)."""
        return sorted(
            pid
            for pid, argv in self.children().items()
            if "--exit-with-parent" not in argv and "resource_tracker" not in argv
        )

    def log_tail(self, chars: int = 2000) -> str:
        if not self.log_path.exists():
            return "(no server log)"
        return self.log_path.read_text(errors="replace")[-chars:]

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
