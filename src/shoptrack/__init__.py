"""shoptrack: self-hosted e-commerce behaviour tracking."""

__version__ = "0.1.0"
