"""Who may import whom: the import-linter contracts in pyproject.toml hold.

A package cycle, or a domain package importing an edge (web/, cli/) or a higher layer, breaks
a contract, whether the import sits at the top of a module or inside a function. The linter
runs in its own process: it configures logging for itself, which would silence the loggers
other tests read.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports(no_cache=True))"


def test_the_import_contracts_hold() -> None:
    result = subprocess.run(
        [sys.executable, "-c", LINT], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and " KEPT" in result.stdout
