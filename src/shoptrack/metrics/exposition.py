"""One scrape: every process's instruments, plus the gauges read from the store right now.

In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set by ``serve``) a fresh registry with a
``MultiProcessCollector`` sums the files of every process, live or dead: counters of a process
that was restarted keep their counts. Otherwise the default registry (this process's
instruments, and prometheus-client's process and GC metrics) is served.

Gauges of the store (a processor's lag, the trigger queue) are not kept by any process: the
callers pass them as collectors evaluated at scrape time, once per scrape whatever the number
of processes, so they are never summed across processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shoptrack.metrics.multiproc_dir import MULTIPROC_ENV

CONTENT_TYPE = CONTENT_TYPE_LATEST
# For the gauges read from the store at scrape time (processing/lag.py, triggers/queue_gauges.py):
# the other packages use prometheus-client only through this package.
__all__ = [
    "CONTENT_TYPE",
    "Collector",
    "GaugeMetricFamily",
    "Metric",
    "mark_process_dead",
    "render",
]


def multiprocess_dir() -> str | None:
    """The shared metrics directory of this run, when there is one (prometheus-client's own
    test: the variable set at all, even empty)."""
    return os.environ.get(MULTIPROC_ENV)


class _DefaultRegistry(Collector):
    """This process's default registry, as one collector of the scrape's registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def render(store_gauges: Iterable[Collector] = ()) -> bytes:
    """The Prometheus text exposition of every instrument and of ``store_gauges``."""
    # auto_describe off: collectors are only collected once, by the scrape itself.
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir() is not None:
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_DefaultRegistry())
    for collector in store_gauges:
        registry.register(collector)
    return generate_latest(registry)


def mark_process_dead(pid: int) -> None:
    """Forget a dead process's live gauges (its counters and histograms are kept and summed).

    Whoever restarts a process of ``serve`` calls this with the dead one's pid; a no-op in a
    single process.
    """
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
