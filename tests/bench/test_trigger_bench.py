"""The triggers bench keeps running against the engine it measures (a smoke run, no figures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_triggers_bench_schedules_and_decides() -> None:
    done = subprocess.run(
        [sys.executable, "bench/triggers.py", "--carts", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "µs/event" in done.stdout
    assert "decide: 18 due episodes (18 messages)" in done.stdout
