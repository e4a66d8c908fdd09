"""``shoptrack demo --fill-only`` as a user runs it: its own store, never ./shoptrack.db."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _demo(
    workdir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    plain = {k: v for k, v in os.environ.items() if not k.startswith("SHOPTRACK_")}
    return subprocess.run(
        [sys.executable, "-m", "shoptrack", "demo", "--fill-only", "--data", str(workdir / "none"),
         *args],
        cwd=workdir,
        env={**plain, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip


def test_the_demo_fills_its_own_store_once_even_when_the_shop_store_is_configured(
    tmp_path: Path,
) -> None:
    shop_env = {"SHOPTRACK_DATABASE_URL": "sqlite:///./shoptrack.db"}
    first = _demo(tmp_path, "--events", "1000", env=shop_env)
    assert first.returncode == 0, first.stderr
    assert "created site 'demo'" in first.stderr and "filled in" in first.stderr
    assert not (tmp_path / "shoptrack.db").exists()
    assert (tmp_path / "shoptrack-demo.db").exists()
    assert (tmp_path / "shoptrack-demo.keys").exists()
    assert (tmp_path / "shoptrack-demo-feed.xml").exists()

    again = _demo(tmp_path, "--events", "1000", env=shop_env)
    assert again.returncode == 0, again.stderr
    assert "filled already" in again.stderr and "created site" not in again.stderr

    refilled = _demo(tmp_path, "--events", "1000", "--refill", env=shop_env)
    assert refilled.returncode == 0, refilled.stderr
    assert "removed" in refilled.stderr and "created site 'demo'" in refilled.stderr
    assert not (tmp_path / "shoptrack.db").exists()


@pytest.mark.parametrize("url", ["sqlite:///./shoptrack.db", "sqlite:///shoptrack.db"])
def test_naming_the_shop_store_is_refused_before_it_is_created(tmp_path: Path, url: str) -> None:
    result = _demo(tmp_path, "--database-url", url)
    assert result.returncode == 1
    assert "never fills the shop's own ./shoptrack.db" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_password_too_short_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    plain = {k: v for k, v in os.environ.items() if not k.startswith("SHOPTRACK_")}
    result = subprocess.run(
        [sys.executable, "-m", "shoptrack", "demo", "--fill-only", "--password-stdin"],
        cwd=tmp_path, env=plain, input="short\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "at least 10 characters" in result.stderr
    assert list(tmp_path.iterdir()) == []
