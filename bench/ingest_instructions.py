"""Instructions per event on the collector's parse → build → row path, counted by valgrind.

Run it from the repository root (not a test)::

    python bench/ingest_instructions.py [--bodies 100]

Throughput and CPU time move by 15-20 % between runs on shared machines; an instruction
count hardly does: ``valgrind --tool=callgrind`` counts nearly the same number for the same
build and input whatever else the machine is doing (two runs agree to about 0.2 %; event
ids and clock readings still differ between them). That makes it the measure for deciding whether a
change to the per-event code paid off (ARCHITECTURE.md, "The per-event path is compiled").

For each stage (cumulative) it runs a child process under callgrind twice, over a few
batches and over ``--bodies`` more, and divides the difference by the events added, so the
interpreter's start-up, the imports and making the batches cancel out. The batches are those of
``bench/ingest.py`` (20 events of six kinds). valgrind is needed (Debian: ``apt-get install
valgrind``); a compiled build (``pip install .``) and a plain one give different counts,
and the script says which it measured.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest import BATCH_SIZE, USER_AGENT, BodyMaker, hot_path

STAGES = {
    "parse": "read: parse the JSON, check the limits, read the envelope",
    "build": "+ build the canonical events (normalize, validate, enrich)",
    "row": "+ serialize each event into the row that is stored",
}
BASE_BODIES = 20


def run_stage(stage: str, bodies: int, made: int) -> None:
    """The child: the collector's own functions over ``bodies`` of ``made`` batches, up to
    ``stage``. Both counts make the same batches, so making them cancels out."""
    from shoptrack.cli.main import tune_garbage_collector
    from shoptrack.collector.enrich import Sessionizer
    from shoptrack.collector.limits import check_structure, may_hold_unstorable, parse_json
    from shoptrack.collector.pipeline import RequestMeta, build_event, to_row
    from shoptrack.collector.service import pipeline_config, structure_limits
    from shoptrack.collector.wire import read_webevent
    from shoptrack.config import Settings
    from shoptrack.identity.crypto import Keyring

    with tempfile.TemporaryDirectory() as tmp:
        keyring = Keyring.load_or_create(Path(tmp) / "keys", None)
    settings = Settings()  # the defaults a server runs with
    config = pipeline_config(settings)
    sessions = Sessionizer(settings.session_timeout_s * 1000)
    max_events = settings.max_events_per_batch
    limits = structure_limits(settings, settings.max_body_bytes, max_events)
    maker = BodyMaker("0123456789abcdef", BATCH_SIZE, 0)
    raw_bodies = [maker.next() for _ in range(made)][:bodies]
    meta = RequestMeta(int(time.time() * 1000), "127.0.0.0", USER_AGENT)
    tune_garbage_collector()  # as `shoptrack serve` runs: collections cost alike in both counts
    for raw in raw_bodies:
        body = parse_json(raw)
        check_structure(body, limits, raw)
        _site, candidates, _envelope = read_webevent(
            body, max_events, meta.received_ms, check_strings=may_hold_unstorable(raw)
        )
        if stage == "parse":
            continue
        for candidate in candidates:
            assert candidate.incoming is not None, candidate.error
            event = build_event(candidate.incoming, meta, config, keyring, sessions)
            if stage == "row":
                to_row(event, keyring)


def count_instructions(stage: str, bodies: int, made: int) -> int:
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--child",
            stage,
            "--bodies",
            str(bodies),
            "--made",
            str(made),
        ],
        capture_output=True,
        text=True,
        check=False,
        # One hash seed for every count: dict and set layouts, and so their probes, follow it.
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"valgrind failed for {stage}:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bodies", type=int, default=100, help="batches of 20 events counted")
    parser.add_argument("--child", choices=list(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--made", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_stage(args.child, args.bodies, max(args.made, args.bodies))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2

    from rich.console import Console
    from rich.table import Table

    events = args.bodies * BATCH_SIZE
    table = Table(
        title=f"Instructions per event ({events:,} events counted; hot path {hot_path()})",
        title_justify="left",
    )
    for column in ("stage", "instructions/event", "added"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    previous = 0.0
    for stage, description in STAGES.items():
        made = BASE_BODIES + args.bodies
        small = count_instructions(stage, BASE_BODIES, made)
        large = count_instructions(stage, made, made)
        per_event = (large - small) / events
        table.add_row(
            description, f"{per_event:,.0f}", f"{per_event - previous:+,.0f}" if previous else ""
        )
        previous = per_event
    Console(width=110).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
