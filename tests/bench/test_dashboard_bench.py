"""The dashboard bench keeps running against the code it measures (a smoke run, no figures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_dashboard_bench_fills_processes_and_reads_every_page() -> None:
    done = subprocess.run(
        [sys.executable, "bench/dashboard.py", "--events", "3000", "--reads", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "µs/event" in done.stdout
    for page in ("GET /healthz (baseline)", "GET overview", "GET charts ?days=90&bots=show"):
        assert f"| {page}" in done.stdout
