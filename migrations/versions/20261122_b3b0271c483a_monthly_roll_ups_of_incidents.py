"""monthly roll-ups of incidents

Revision ID: b3b0271c483a
Revises: ea12beace4be
Create Date: 2026-11-22 07:40:36.966651
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import zones.database

revision: str = 'b3b0271c483a'
down_revision: str | None = 'ea12beace4be'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The SQL of security.rollups at the time of this revision, copied so that later changes
# to that module never change what this migration does.
BACKFILL = {
    'sqlite': [
        "INSERT INTO rollup_incident_month (zone_id, month, kind, total, resolved)\n            SELECT zone_id, strftime('%Y-%m', occurred_at, '-5 hours') AS m, kind, COUNT(*), SUM(CASE WHEN status = 'resolved' THEN 1 ELSE 0 END)\n            FROM incident WHERE 1 = 1 GROUP BY zone_id, m, kind\n            ON CONFLICT (zone_id, month, kind) DO UPDATE SET\n              total = rollup_incident_month.total + excluded.total,\n              resolved = rollup_incident_month.resolved + excluded.resolved",
        "INSERT INTO rollup_incident_week (zone_id, month, week, total)\n            SELECT zone_id, strftime('%Y-%m', occurred_at, '-5 hours') AS m, date(occurred_at, '-5 hours', 'weekday 0', '-6 days') AS w, COUNT(*)\n            FROM incident WHERE 1 = 1 GROUP BY zone_id, m, w\n            ON CONFLICT (zone_id, month, week) DO UPDATE SET total = rollup_incident_week.total + excluded.total",
        "INSERT INTO rollup_block_month (zone_id, month, block_id, total)\n            SELECT zone_id, strftime('%Y-%m', occurred_at, '-5 hours') AS m, block_id, COUNT(*)\n            FROM incident WHERE 1 = 1 AND block_id IS NOT NULL GROUP BY zone_id, m, block_id\n            ON CONFLICT (zone_id, month, block_id) DO UPDATE SET total = rollup_block_month.total + excluded.total",
        "INSERT INTO rollup_ack_month (zone_id, month, seconds, total)\n        SELECT zone_id, strftime('%Y-%m', occurred_at, '-5 hours') AS m, CASE WHEN CAST(ROUND((julianday(acknowledged_at) - julianday(reported_at)) * 86400) AS INTEGER) < 0 THEN 0 WHEN CAST(ROUND((julianday(acknowledged_at) - julianday(reported_at)) * 86400) AS INTEGER) < 600 THEN CAST(ROUND((julianday(acknowledged_at) - julianday(reported_at)) * 86400) AS INTEGER) / 10 * 10 WHEN CAST(ROUND((julianday(acknowledged_at) - julianday(reported_at)) * 86400) AS INTEGER) < 3600 THEN CAST(ROUND((julianday(acknowledged_at) - julianday(reported_at)) * 86400) AS INTEGER) / 60 * 60 ELSE CAST(ROUND((julianday(acknowledged_at) - julianday(reported_at)) * 86400) AS INTEGER) / 300 * 300 END AS b, COUNT(*)\n        FROM incident WHERE 1 = 1 AND acknowledged_at IS NOT NULL GROUP BY zone_id, m, b\n        ON CONFLICT (zone_id, month, seconds) DO UPDATE SET total = rollup_ack_month.total + excluded.total",
    ],
    'postgresql': [
        "INSERT INTO rollup_incident_month (zone_id, month, kind, total, resolved)\n            SELECT zone_id, to_char(occurred_at AT TIME ZONE 'America/Lima', 'YYYY-MM') AS m, kind, COUNT(*), SUM(CASE WHEN status = 'resolved' THEN 1 ELSE 0 END)\n            FROM incident WHERE 1 = 1 GROUP BY zone_id, m, kind\n            ON CONFLICT (zone_id, month, kind) DO UPDATE SET\n              total = rollup_incident_month.total + excluded.total,\n              resolved = rollup_incident_month.resolved + excluded.resolved",
        "INSERT INTO rollup_incident_week (zone_id, month, week, total)\n            SELECT zone_id, to_char(occurred_at AT TIME ZONE 'America/Lima', 'YYYY-MM') AS m, to_char(date_trunc('week', occurred_at AT TIME ZONE 'America/Lima'), 'YYYY-MM-DD') AS w, COUNT(*)\n            FROM incident WHERE 1 = 1 GROUP BY zone_id, m, w\n            ON CONFLICT (zone_id, month, week) DO UPDATE SET total = rollup_incident_week.total + excluded.total",
        "INSERT INTO rollup_block_month (zone_id, month, block_id, total)\n            SELECT zone_id, to_char(occurred_at AT TIME ZONE 'America/Lima', 'YYYY-MM') AS m, block_id, COUNT(*)\n            FROM incident WHERE 1 = 1 AND block_id IS NOT NULL GROUP BY zone_id, m, block_id\n            ON CONFLICT (zone_id, month, block_id) DO UPDATE SET total = rollup_block_month.total + excluded.total",
        "INSERT INTO rollup_ack_month (zone_id, month, seconds, total)\n        SELECT zone_id, to_char(occurred_at AT TIME ZONE 'America/Lima', 'YYYY-MM') AS m, CASE WHEN CAST(ROUND(EXTRACT(EPOCH FROM (acknowledged_at - reported_at))) AS INTEGER) < 0 THEN 0 WHEN CAST(ROUND(EXTRACT(EPOCH FROM (acknowledged_at - reported_at))) AS INTEGER) < 600 THEN CAST(ROUND(EXTRACT(EPOCH FROM (acknowledged_at - reported_at))) AS INTEGER) / 10 * 10 WHEN CAST(ROUND(EXTRACT(EPOCH FROM (acknowledged_at - reported_at))) AS INTEGER) < 3600 THEN CAST(ROUND(EXTRACT(EPOCH FROM (acknowledged_at - reported_at))) AS INTEGER) / 60 * 60 ELSE CAST(ROUND(EXTRACT(EPOCH FROM (acknowledged_at - reported_at))) AS INTEGER) / 300 * 300 END AS b, COUNT(*)\n        FROM incident WHERE 1 = 1 AND acknowledged_at IS NOT NULL GROUP BY zone_id, m, b\n        ON CONFLICT (zone_id, month, seconds) DO UPDATE SET total = rollup_ack_month.total + excluded.total",
    ],
}


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table('rollup_ack_month',
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('seconds', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('zone_id', 'month', 'seconds')
    )
    op.create_table('rollup_block_month',
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('block_id', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('zone_id', 'month', 'block_id')
    )
    op.create_table('rollup_incident_month',
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('resolved', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('zone_id', 'month', 'kind')
    )
    op.create_table('rollup_incident_week',
    sa.Column('zone_id', sa.Integer(), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('week', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('zone_id', 'month', 'week')
    )
    # ### end Alembic commands ###
    # Count the incidents already stored.
    bind = op.get_bind()
    for statement in BACKFILL[bind.dialect.name]:
        bind.execute(sa.text(statement))


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_table('rollup_incident_week')
    op.drop_table('rollup_incident_month')
    op.drop_table('rollup_block_month')
    op.drop_table('rollup_ack_month')
    # ### end Alembic commands ###
