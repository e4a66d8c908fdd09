"""Alembic environment: runs on the connection that shoptrack.store.migrate hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from shoptrack.store.tables import metadata

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `shoptrack migrate` or shoptrack.store.migrate")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
