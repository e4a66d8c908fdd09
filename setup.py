"""Build hook: the collector's hot path compiled with mypyc, when it can be.

Everything else about the package is in pyproject.toml. ``pip install .`` compiles the modules
below to C extensions (the request path of ingestion runs ~30 % more events per second
compiled; see ARCHITECTURE.md). Editable installs (``pip install -e .``, development and CI)
and machines where compiling fails get the same modules as plain Python, which behave the
same: the test suite runs against both. ``SHOPTRACK_PURE_PYTHON=1`` skips compiling.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

# Modules on the per-event path that compile as they are (mypy-strict, no monkeypatching).
HOT_MODULES = [
    "src/shoptrack/events/normalize.py",
    "src/shoptrack/events/values.py",
    "src/shoptrack/events/identity.py",
    "src/shoptrack/events/types.py",
    "src/shoptrack/events/model.py",
    "src/shoptrack/events/location.py",
    "src/shoptrack/events/scrub.py",
    "src/shoptrack/collector/pipeline.py",
    "src/shoptrack/collector/wire.py",
    "src/shoptrack/collector/limits.py",
    "src/shoptrack/collector/enrich.py",
]


class OptionalBuildExt(build_ext):
    """All or nothing: if any module fails to compile (no C compiler, no Python headers…),
    none is installed compiled, and the plain-Python modules are used instead of failing the
    install. (A half-compiled set would fail at import: the modules share one library.)"""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # any build failure means: stay pure Python
            print(f"shoptrack: compiling the hot path failed ({exc}); using pure Python")
            for output in self.get_outputs():
                if os.path.exists(output):
                    os.remove(output)


def _building_a_wheel() -> bool:
    """Compile only for a wheel (what `pip install .` builds). Not for editable installs,
    whose compiled modules would shadow the sources being edited, nor for metadata steps."""
    return "bdist_wheel" in sys.argv


def extensions() -> list[Any]:
    if os.environ.get("SHOPTRACK_PURE_PYTHON") or not _building_a_wheel():
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        return []
    try:
        return list(mypycify(["--config-file=mypyc.ini", *HOT_MODULES], opt_level="3"))
    except (Exception, SystemExit) as exc:  # mypy reports errors by exiting
        print(f"shoptrack: mypyc could not compile the hot path ({exc}); using pure Python")
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
