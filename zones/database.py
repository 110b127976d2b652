"""The store every Ronda package writes to: engine creation and the UTC timestamp type.

It lives in `zones`, the bottom of the dependency chain (zones <- security <- dashboards),
so that every package can share one engine without importing upwards.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


LIMA = ZoneInfo("America/Lima")
# Timestamps outside these years are typing mistakes, not history (and some would overflow).
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
OUT_OF_RANGE = "La fecha está fuera de rango (entre 1990 y 2200)."  # a message catalogue entry


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC (the only kind of datetime Ronda stores)."""
    return datetime.now(UTC)


def lima_aware(value: datetime) -> datetime:
    """A timestamp from a person or phone, made aware and UTC: without an offset it is Lima time.

    Raises ValueError for a timestamp before 1990 or after 2200 (a typing mistake).
    """
    try:
        result = (value.replace(tzinfo=LIMA) if value.tzinfo is None else value).astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(OUT_OF_RANGE) from exc
    if not EARLIEST <= result < LATEST:
        raise ValueError(OUT_OF_RANGE)
    return result


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no zone, so values are normalised to UTC on the way in and tagged UTC on
    the way out; PostgreSQL stores `timestamptz`. Naive datetimes are refused: they are a bug.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: Ronda stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets dashboards read while a phone's report commits; FULL syncs the log at every
    # commit, so a report acknowledged to a phone survives a power cut, not only a crash.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # 64 MB of page cache: the incident indexes of a district's history fit, so a bulk import
    # or a long history does not thrash the disk (SQLite's default is 2 MB).
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()
    # pysqlite opens transactions itself, lazily, at the first write: a SAVEPOINT before it
    # starts the transaction and its RELEASE commits, so a report and its event could land
    # apart. SQLAlchemy's recipe: the driver opens none, and every transaction says BEGIN.
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def make_engine(url: str) -> Engine:
    """Create the engine for `url` (SQLite file or PostgreSQL via psycopg 3)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: a failed statement's log line must not carry a report's text or position.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (SQLite and PostgreSQL alike)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
