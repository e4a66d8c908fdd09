"""prometheus-client's multiprocess mode as ``serve`` uses it: real processes, real files.

Each process below is a fresh interpreter (``python -c``), as the API processes and the
processor worker of ``serve`` are, sharing one metrics directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

COUNT_EVENTS = """
import sys
from shoptrack.metrics.instruments import instruments
metrics = instruments()
metrics.events_accepted.inc(int(sys.argv[1]))
metrics.events_rejected.labels("unknown_event", "type").inc()
metrics.commit_duration.observe(0.004)
"""

SCRAPE = """
import sys
from shoptrack.metrics.exposition import render
sys.stdout.write(render().decode())
"""


def run(code: str, *args: str, env: dict[str, str | None]) -> str:
    """Run ``code`` in a new interpreter; a variable set to None is left out of its env."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    environment = {**os.environ, "PYTHONPATH": src}
    for name, value in env.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_processes_counters_add_up_in_one_scrape(tmp_path: Path) -> None:
    env: dict[str, str | None] = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    run(COUNT_EVENTS, "3", env=env)
    run(COUNT_EVENTS, "4", env=env)
    assert len(list(tmp_path.glob("*.db"))) >= 2  # a file per process (and kind of metric)
    # A third process scrapes: the two that counted have exited, their counts remain.
    scraped = samples(run(SCRAPE, env=env))
    assert scraped[("shoptrack_events_accepted_total", frozenset())] == 7
    rejected = frozenset({("reason", "unknown_event"), ("step", "type")})
    assert scraped[("shoptrack_events_rejected_total", rejected)] == 2
    assert scraped[("shoptrack_commit_duration_seconds_count", frozenset())] == 2


def test_without_the_directory_a_process_serves_its_own_registry(tmp_path: Path) -> None:
    env: dict[str, str | None] = {"PROMETHEUS_MULTIPROC_DIR": None}
    scraped = samples(run(COUNT_EVENTS + SCRAPE, "5", env=env))
    assert scraped[("shoptrack_events_accepted_total", frozenset())] == 5
    # The default registry's process metrics come along in a single process.
    assert any(name.startswith("process_") for name, _ in scraped)
    assert list(tmp_path.iterdir()) == []


USE_FRESH_DIR = """
import os, sys
import shoptrack.cli.main  # imports prometheus-client, as `shoptrack serve` has when it starts
assert "prometheus_client" in sys.modules
from shoptrack.metrics.multiproc_dir import use_fresh_metrics_dir
from shoptrack.metrics.instruments import instruments
path = use_fresh_metrics_dir()
instruments().events_accepted.inc(2)
print(path)
print(sorted(os.listdir(path)))
"""


def test_serve_s_fresh_directory_takes_the_counts_although_the_cli_imported_the_client() -> None:
    out = run(USE_FRESH_DIR, env={"PROMETHEUS_MULTIPROC_DIR": None}).splitlines()
    path, files = out[0], out[1]
    assert "counter_" in files
    # Removed when the process that made it exits.
    assert not Path(path).exists()


TOO_LATE = """
from shoptrack.metrics.instruments import instruments
from shoptrack.metrics.multiproc_dir import use_fresh_metrics_dir
instruments()
try:
    use_fresh_metrics_dir()
except RuntimeError as exc:
    print("refused:", exc)
"""


def test_a_directory_set_after_the_metrics_were_made_is_refused() -> None:
    assert run(TOO_LATE, env={"PROMETHEUS_MULTIPROC_DIR": None}).startswith("refused:")
