"""Every counter and histogram shoptrack keeps, named ``shoptrack_…`` with their unit.

Each is updated where the thing happens (collector, processors, catalogue, triggers, web),
in whichever process that is; :mod:`.exposition` gathers them. Label values come from short
closed sets (route templates, reason codes, steps, outcomes), never from client input, so the
number of series stays bounded.

In multiprocess mode every update writes to a memory-mapped file under a lock: a few
microseconds. The ingest hot path therefore counts per request and per commit group, never per
event (``bench/ingest.py`` measured the difference: see README "Metrics").

They are created on first use, not at import: prometheus-client chooses between in-memory and
multiprocess (file) values when a metric is made, and ``serve`` chooses multiprocess mode after
the command line has imported most of shoptrack (``multiproc_dir.use_fresh_metrics_dir``).
"""

from __future__ import annotations

import threading

from prometheus_client import Counter, Histogram

# Request latencies from a fraction of a millisecond (ingestion, /recs) to seconds (admin pages).
LATENCY_BUCKETS_S = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
GROUP_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000)
FEED_IMPORT_BUCKETS_S = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


class Instruments:
    """Every instrument, created together on first use (see :func:`instruments`)."""

    def __init__(self) -> None:
        # --- HTTP (web/) ---
        self.http_requests = Counter(
            "shoptrack_http_requests",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
        )
        self.http_duration = Histogram(
            "shoptrack_http_request_duration_seconds",
            "Time from the request's arrival at the application to its answer, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS_S,
        )

        # --- ingestion (collector/) ---
        self.events_accepted = Counter(
            "shoptrack_events_accepted",
            "Events committed to the event log (acknowledged to their sender).",
        )
        self.events_rejected = Counter(
            "shoptrack_events_rejected",
            "Refused events and bodies kept in rejected_events, by reason code and refusing step.",
            ["reason", "step"],
        )
        self.commit_group_events = Histogram(
            "shoptrack_commit_group_events",
            "Rows (accepted and rejected events) per group commit transaction.",
            buckets=GROUP_SIZE_BUCKETS,
        )
        self.commit_group_requests = Histogram(
            "shoptrack_commit_group_requests",
            "Requests answered by one group commit transaction.",
            buckets=GROUP_SIZE_BUCKETS,
        )
        self.commit_duration = Histogram(
            "shoptrack_commit_duration_seconds",
            "Time one group commit transaction took to write and commit (durably) its rows.",
            buckets=LATENCY_BUCKETS_S,
        )
        self.commit_failures = Counter(
            "shoptrack_commit_failures",
            "Group commit transactions the store refused "
            "(each request then retried alone, or answered 503).",
        )

        # --- processors (processing/) ---
        self.processor_events = Counter(
            "shoptrack_processor_events",
            "Sequence numbers each processor moved its cursor past (events read, holes included).",
            ["processor"],
        )
        self.processor_failures = Counter(
            "shoptrack_processor_failures",
            "Failed attempts of a processor on an event, recorded in processor_failures "
            "(a retried event that fails again counts again).",
            ["processor"],
        )

        # --- recommendations (web/recs.py) ---
        self.recommendation_duration = Histogram(
            "shoptrack_recommendation_duration_seconds",
            "Time to compute a /recs answer (serving only, without HTTP), by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS_S,
        )

        # --- catalogue feeds (catalog/) ---
        self.feed_imports = Counter(
            "shoptrack_feed_imports",
            "Feed imports finished, by result: ok, not_modified, failed, interrupted, …",
            ["status"],
        )
        self.feed_import_duration = Histogram(
            "shoptrack_feed_import_duration_seconds",
            "Time a feed import took from start to its result.",
            ["status"],
            buckets=FEED_IMPORT_BUCKETS_S,
        )

        # --- triggers (triggers/) ---
        self.trigger_deliveries = Counter(
            "shoptrack_trigger_deliveries",
            "Trigger message send attempts, by outcome: sent, retry (will be tried again), failed.",
            ["outcome"],
        )


_lock = threading.Lock()
_instruments: Instruments | None = None


def instruments() -> Instruments:
    """The process's instruments, made on the first call."""
    global _instruments
    if _instruments is None:
        with _lock:
            if _instruments is None:
                _instruments = Instruments()
    return _instruments


def instruments_made() -> bool:
    """Whether the instruments exist already (then their kind of values is settled)."""
    return _instruments is not None
