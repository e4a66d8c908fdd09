"""The authenticated JSON API under /api/v1 (FastAPI, documented at /docs)."""
