"""HTTP at the edge: the ASGI app, ingestion endpoints, /api/v1, /recs, /scripts, /docs."""
