"""The segments bench keeps running against the code it measures (a smoke run, no figures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_segments_bench_evaluates_ten_segments_and_follows_events() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "bench/segments.py",
            "--facts",
            "3000",
            "--contacts",
            "300",
            "--events",
            "200",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "median ms" in done.stdout
    assert "abandoned browse" in done.stdout and "µs/event" in done.stdout
