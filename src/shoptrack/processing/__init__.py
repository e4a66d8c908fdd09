"""Processors that follow the event log: the runner, its registry, serve's worker child."""
