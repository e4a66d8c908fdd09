"""Segments: audiences defined by conditions over the tracked events, the catalogue and the
contacts, evaluated as SQL on both stores and kept up to date as events arrive."""
