"""``shoptrack demo``'s demo site: a generated catalogue and a month of traffic in a store of
its own, filled through the real importer, collector and processors (``fill.py``)."""
