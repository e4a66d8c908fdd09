"""bench/ingest_budget.py keeps running against the code it measures (a smoke run, no figures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_budget_bench_measures_every_stage() -> None:
    done = subprocess.run(
        [sys.executable, "bench/ingest_budget.py", "--requests", "64"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for stage in ("1 empty handler", "2 ingestion dispatch", "3 + read", "4 + build", "5 whole"):
        assert stage in done.stdout
    assert "c - 2e" in done.stdout
