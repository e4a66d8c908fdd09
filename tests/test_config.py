"""The example config documents every setting, so it stays the complete reference."""

from __future__ import annotations

import os
from pathlib import Path

from shoptrack.config import Settings

EXAMPLE = Path(__file__).resolve().parents[1] / "shoptrack.example.env"


def test_every_setting_is_documented_in_the_example() -> None:
    documented = {
        line.split("=", 1)[0].strip()
        for line in EXAMPLE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    expected = {f"SHOPTRACK_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "undocumented settings"
    assert documented - expected == set(), "documented settings that do not exist"


def test_serve_runs_one_http_worker_per_core_unless_told() -> None:
    assert Settings(workers="").http_workers == (os.cpu_count() or 1)  # type: ignore[arg-type]
    assert Settings(workers=3).http_workers == 3
