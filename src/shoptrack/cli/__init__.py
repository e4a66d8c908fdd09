"""The command line at the edge: every Typer group of ``shoptrack``."""
