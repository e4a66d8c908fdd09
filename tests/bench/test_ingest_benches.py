"""The ingestion benches keep running against the code they measure (smoke runs, no figures)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_bench(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_the_budget_bench_measures_every_stage() -> None:
    done = run_bench("bench/ingest_budget.py", "--requests", "64")
    assert done.returncode == 0, done.stderr[-2000:]
    for stage in ("1 empty handler", "2 ingestion dispatch", "3 + read", "4 + build", "5 whole"):
        assert stage in done.stdout
    assert "c - 2e" in done.stdout


@pytest.mark.parametrize("stage", ["parse", "build", "row"])
def test_the_instruction_count_runs_every_stage_it_counts(stage: str) -> None:
    # Without valgrind: the child valgrind would run, over two batches.
    done = run_bench("bench/ingest_instructions.py", "--child", stage, "--bodies", "2")
    assert done.returncode == 0, done.stderr[-2000:]
