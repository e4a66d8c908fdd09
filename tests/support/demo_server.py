"""``shoptrack demo`` in a subprocess: a small demo fill served with the dashboard, signed in
as its user ``demo@example.com`` with a password the test chose (``--password-stdin``)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from tests.support.server import free_port

DEMO_USER = "demo@example.com"
ROOT = Path(__file__).resolve().parents[2]


def artifacts_dir(*parts: str) -> Path:
    """Where tests save what a person looks at afterwards (screenshots):
    ``$SHOPTRACK_TEST_ARTIFACTS``, or ``test-artifacts/`` at the repository root (ignored)."""
    base = Path(os.environ.get("SHOPTRACK_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    folder = base.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class DemoServer:
    def __init__(self, workdir: Path, events: int = 2000) -> None:
        self.workdir = workdir
        self.events = events
        self.port = free_port()
        self.password = secrets.token_urlsafe(12)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "demo.log"
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        # As a newcomer runs it: no settings of the environment; no shared data folder, so
        # the traffic is generated (the same on every machine).
        plain = {k: v for k, v in os.environ.items() if not k.startswith("SHOPTRACK_")}
        env = {**plain, "SHOPTRACK_LOG_LEVEL": "warning"}
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shoptrack", "demo", "--port", str(self.port),
             "--events", str(self.events), "--data", str(self.workdir / "no-data"),
             "--password-stdin"],
            cwd=self.workdir, env=env, stdin=subprocess.PIPE, stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        assert self.process.stdin is not None
        self.process.stdin.write(self.password.encode() + b"\n")
        self.process.stdin.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"shoptrack demo exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"shoptrack demo did not start: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 3000) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return self.log_path.read_text(errors="replace")[-chars:]
