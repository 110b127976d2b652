"""A throwaway PostgreSQL database for a benchmark run, next to the `test` database of
127.0.0.1:5432 (trust auth), dropped afterwards even if the run fails."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def make_pg_database() -> tuple[str, str]:
    """Create a new, empty database; its name and its SQLAlchemy URL."""
    name = f"ronda_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(name: str) -> None:
    """Drop a database made by `make_pg_database` (connections still open are closed)."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
