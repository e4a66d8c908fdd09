"""The ingestion benches keep running against the code they measure (smoke runs, no figures)."""

from __future__ import annotations

import json
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


@pytest.mark.slow
def test_the_open_loop_search_finds_a_capacity_for_each_setup(tmp_path: Path) -> None:
    # A tiny rate, two steps per case: the search, the judging and the table, not figures.
    figures = tmp_path / "capacity.json"
    done = run_bench(
        "bench/ingest.py",
        "--open-loop",
        "--quick",
        "--setup",
        "empty",
        "--setup",
        # Extra serve arguments ride along (here one serve already takes).
        "collector sqlite --host 127.0.0.1",
        "--only",
        "single",
        "--start-rate",
        "40",
        "--max-rate",
        "80",
        "--bisections",
        "0",
        "--connections",
        "8",
        "--json",
        str(figures),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "collector sqlite --host 127.0.0.1: " in done.stderr and " stored" in done.stderr
    assert "aim single" in done.stdout
    rows = json.loads(figures.read_text())
    assert [(row["setup"], row["case"]) for row in rows] == [
        ("empty", "single"),
        ("collector sqlite --host 127.0.0.1", "single"),
        ("empty", "single"),
    ]
    for row in rows:
        # 40-80 requests/s is far below any setup's capacity; on a busy machine a step may
        # stall and be retried (or its rate halved), but some rate is held within the bound.
        assert row["steps"] >= 2
        assert row["requests_per_s"] >= 15
        assert row["p99_ms"] <= 50
