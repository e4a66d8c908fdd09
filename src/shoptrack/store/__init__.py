"""Storage: engine by URL, tables, Alembic migrations and repositories."""
