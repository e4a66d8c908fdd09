"""The directory prometheus-client's multiprocess mode shares between ``serve``'s processes.

With ``PROMETHEUS_MULTIPROC_DIR`` set, every counter and histogram lives in a memory-mapped
file per process in that directory, and a scrape sums the files of every process (API processes
and the processor worker alike). prometheus-client reads the variable when it is imported, and
a metric takes its kind of value when it is made; ``serve`` sets the variable first thing (the
command line has imported prometheus-client by then, not yet made a metric: see
``instruments``), and its children inherit it. The directory must be fresh: files left by an
earlier run would be added to this one's counters.

Without the variable (a single process: tests, ``uvicorn shoptrack.web.app:create_app``) the
default registry serves the scrape.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from prometheus_client import values

from shoptrack.metrics.instruments import instruments_made

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def use_fresh_metrics_dir() -> str:
    """Make an empty directory for this run's metrics files, export it, and remove it at exit.

    Always a new directory, even when the variable was set by the caller: a reused one would
    carry an earlier run's counts. Raises RuntimeError when this process made its instruments
    already: they would silently stay out of the directory.
    """
    if instruments_made():
        raise RuntimeError("the metrics were made before their multiprocess directory was set")
    path = tempfile.mkdtemp(prefix="shoptrack-metrics-")
    os.environ[MULTIPROC_ENV] = path
    # prometheus-client chose in-memory values when it was imported; metrics made from now on
    # take file values (its own chooser, run again now that the variable is set).
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    owner = os.getpid()

    def remove() -> None:
        # Only the process that made it: a forked child exiting must not take it away.
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
    return path
