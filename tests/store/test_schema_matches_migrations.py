"""The schema written twice, in ``store/tables.py`` and in the migrations, is one schema.

Alembic's ``compare_metadata`` lists every difference between a database migrated to head and
the tables the code uses (tables, columns, types, nullability, indexes, unique constraints):
a migration that forgets what ``tables.py`` says, or the reverse, fails here on both stores.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from shoptrack.store.tables import metadata


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": False}
        )
        return list(compare_metadata(context, metadata))


def test_tables_and_migrations_describe_the_same_schema(engine: Engine) -> None:
    differences = [d for d in _differences(engine) if d[0] != "remove_table" or
                   d[1].name != "alembic_version"]  # fmt: skip
    assert differences == []
