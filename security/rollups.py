"""Monthly roll-ups of incidents, kept current as rows arrive, so the committees' trends cost
the same with a million incidents as with a thousand.

Four small tables, keyed by zone and Lima month: counts by kind (and how many are resolved),
by week, by block, and the distribution of report-to-acknowledgement times in buckets
(10 s under 10 min, 1 min under 1 h, 5 min beyond). They are updated in the same transaction
as the incident: by mapper events for rows written through the ORM, and by `roll_up` for rows
inserted in bulk (history import).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper
from sqlmodel import Field, SQLModel

from security.models import Incident


class IncidentMonth(SQLModel, table=True):
    __tablename__ = "rollup_incident_month"

    zone_id: int = Field(primary_key=True)
    month: str = Field(primary_key=True, max_length=7)
    kind: str = Field(primary_key=True, max_length=40)
    total: int = 0
    resolved: int = 0


class IncidentWeek(SQLModel, table=True):
    __tablename__ = "rollup_incident_week"

    zone_id: int = Field(primary_key=True)
    month: str = Field(primary_key=True, max_length=7)
    week: str = Field(primary_key=True, max_length=10)  # the Monday that starts it, Lima time
    total: int = 0


class BlockMonth(SQLModel, table=True):
    __tablename__ = "rollup_block_month"

    zone_id: int = Field(primary_key=True)
    month: str = Field(primary_key=True, max_length=7)
    block_id: int = Field(primary_key=True)
    total: int = 0


class AckMonth(SQLModel, table=True):
    __tablename__ = "rollup_ack_month"

    zone_id: int = Field(primary_key=True)
    month: str = Field(primary_key=True, max_length=7)
    seconds: int = Field(primary_key=True)  # lower bound of the bucket
    total: int = 0


_EXPRESSIONS = {
    "sqlite": {
        # Lima has kept UTC-5 all year since 1994: a fixed shift is exact for stored history.
        "month": "strftime('%Y-%m', occurred_at, '-5 hours')",
        "week": "date(occurred_at, '-5 hours', 'weekday 0', '-6 days')",
        "seconds": "CAST(ROUND((julianday(acknowledged_at) - julianday(reported_at)) * 86400) AS INTEGER)",
    },
    "postgresql": {
        "month": "to_char(occurred_at AT TIME ZONE 'America/Lima', 'YYYY-MM')",
        "week": "to_char(date_trunc('week', occurred_at AT TIME ZONE 'America/Lima'), 'YYYY-MM-DD')",
        "seconds": "CAST(ROUND(EXTRACT(EPOCH FROM (acknowledged_at - reported_at))) AS INTEGER)",
    },
}
_BUCKET = (
    "CASE WHEN {s} < 0 THEN 0 WHEN {s} < 600 THEN {s} / 10 * 10 "
    "WHEN {s} < 3600 THEN {s} / 60 * 60 ELSE {s} / 300 * 300 END"
)


def _statements(dialect: str, where: str) -> list[str]:
    e = _EXPRESSIONS[dialect]
    return [
        f"""INSERT INTO rollup_incident_month (zone_id, month, kind, total, resolved)
            SELECT zone_id, {e["month"]} AS m, kind, COUNT(*), SUM(CASE WHEN status = 'resolved' THEN 1 ELSE 0 END)
            FROM incident WHERE {where} GROUP BY zone_id, m, kind
            ON CONFLICT (zone_id, month, kind) DO UPDATE SET
              total = rollup_incident_month.total + excluded.total,
              resolved = rollup_incident_month.resolved + excluded.resolved""",
        f"""INSERT INTO rollup_incident_week (zone_id, month, week, total)
            SELECT zone_id, {e["month"]} AS m, {e["week"]} AS w, COUNT(*)
            FROM incident WHERE {where} GROUP BY zone_id, m, w
            ON CONFLICT (zone_id, month, week) DO UPDATE SET total = rollup_incident_week.total + excluded.total""",
        f"""INSERT INTO rollup_block_month (zone_id, month, block_id, total)
            SELECT zone_id, {e["month"]} AS m, block_id, COUNT(*)
            FROM incident WHERE {where} AND block_id IS NOT NULL GROUP BY zone_id, m, block_id
            ON CONFLICT (zone_id, month, block_id) DO UPDATE SET total = rollup_block_month.total + excluded.total""",
        _ack_statement(dialect, where),
    ]


def _ack_statement(dialect: str, where: str) -> str:
    e = _EXPRESSIONS[dialect]
    bucket = _BUCKET.format(s=e["seconds"])
    return f"""INSERT INTO rollup_ack_month (zone_id, month, seconds, total)
        SELECT zone_id, {e["month"]} AS m, {bucket} AS b, COUNT(*)
        FROM incident WHERE {where} AND acknowledged_at IS NOT NULL GROUP BY zone_id, m, b
        ON CONFLICT (zone_id, month, seconds) DO UPDATE SET total = rollup_ack_month.total + excluded.total"""


def roll_up(connection: Connection, *, where: str, params: dict[str, Any] | None = None) -> None:
    """Add the incidents matching `where` (SQL over table incident) to every roll-up."""
    for statement in _statements(connection.dialect.name, where):
        connection.execute(text(statement), params or {})


@event.listens_for(Incident, "after_insert")
def _incident_inserted(_mapper: Mapper[Any], connection: Connection, target: Incident) -> None:
    roll_up(connection, where="id = :id", params={"id": target.id})


@event.listens_for(Incident, "after_update")
def _incident_updated(_mapper: Mapper[Any], connection: Connection, target: Incident) -> None:
    state = inspect(target)
    status = state.attrs.status.history
    if status.has_changes() and target.status == "resolved" and "resolved" not in (status.deleted or ()):
        month = _EXPRESSIONS[connection.dialect.name]["month"]
        connection.execute(
            text(
                f"""UPDATE rollup_incident_month SET resolved = resolved + 1
                    WHERE (zone_id, month, kind) = (SELECT zone_id, {month}, kind FROM incident WHERE id = :id)"""
            ),
            {"id": target.id},
        )
    acknowledged = state.attrs.acknowledged_at.history
    if acknowledged.has_changes() and target.acknowledged_at is not None and not any(acknowledged.deleted or ()):
        connection.execute(text(_ack_statement(connection.dialect.name, "id = :id")), {"id": target.id})
