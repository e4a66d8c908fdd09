"""Prometheus metrics: the instruments every layer updates, and how a scrape gathers them.

Low in the layers (only ``prometheus_client`` and ``config`` below it) so that the collector,
the processors, the catalogue, the triggers and the web edge can all count. This package's
``__init__`` imports nothing: ``multiproc_dir`` must be importable before ``prometheus_client``
is (see there).
"""
