"""``shoptrack demo``'s demo site: a generated catalogue and a month of traffic in a store of
its own, filled through the real importer, collector and processors (``fill.py``)."""

# Here rather than in fill.py: the command line reads it for its --events default without
# importing the fill (and the collector, the processors …) at every start.
DEFAULT_EVENTS = 60_000
