"""The Alembic migrations build exactly the schema the models describe, on SQLite and on
PostgreSQL: a model changed without a migration fails here, not in production."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

import security.models  # noqa: F401  (registers the tables)
import zones.models  # noqa: F401
from tests.test_postgres import fresh_database, pg_admin  # noqa: F401  (`pg_admin` is a fixture)
from zones.database import make_engine, migrate


def schema_differences(engine: Engine) -> list[object]:
    """What `alembic revision --autogenerate` would put in a new migration for this database."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_the_migrated_sqlite_schema_matches_the_models(db_url):
    engine = make_engine(db_url)  # a copy of the migrated template
    try:
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_the_migrated_postgresql_schema_matches_the_models(pg_admin):  # noqa: F811
    with fresh_database(pg_admin) as url:
        engine = make_engine(url)
        try:
            migrate(engine)
            assert schema_differences(engine) == []
        finally:
            engine.dispose()
