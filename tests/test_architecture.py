"""Who may import whom: the import-linter contracts in pyproject.toml hold.

A package cycle, or a domain package importing an edge (web/, cli/) or a higher layer, breaks
a contract, whether the import sits at the top of a module or inside a function.
"""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold() -> None:
    exit_code = lint_imports(
        config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True
    )
    assert exit_code == 0, "an import breaks a contract: see the report above"
