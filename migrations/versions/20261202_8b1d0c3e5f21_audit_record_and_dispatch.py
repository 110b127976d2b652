"""the audit record (append-only) and the patrol an incident is dispatched to

Revision ID: 8b1d0c3e5f21
Revises: 7d3f2a9c4b10
Create Date: 2026-12-02 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zones.database

revision: str = "8b1d0c3e5f21"
down_revision: str | None = "7d3f2a9c4b10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL refuses any change to a line of the record, whoever asks (the app never does).
APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION ronda_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit record is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def _add_patrol_reference(table: str, column: str) -> None:
    # A plain ADD COLUMN (SQLite takes an inline REFERENCES on a nullable column): no table copy.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER REFERENCES patrol (id)")
    else:
        op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
        op.create_foreign_key(f"fk_{table}_{column}", table, "patrol", [column], ["id"])


def _drop_patrol_reference(table: str, column: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(f"fk_{table}_{column}", table, type_="foreignkey")
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_column(column)


def upgrade() -> None:
    _add_patrol_reference("incident", "assigned_patrol_id")
    # A patrol's phones ask for what they were sent to on every sign-in and reconnection.
    op.create_index(op.f("ix_incident_assigned_patrol_id"), "incident", ["assigned_patrol_id"], unique=False)
    _add_patrol_reference("incidentchange", "patrol_id")
    op.create_table(
        "auditentry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", zones.database.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_username", sa.String(length=80), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("object_type", sa.String(length=20), nullable=True),
        sa.Column("object_id", sa.String(length=80), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_auditentry_object", "auditentry", ["object_type", "object_id"], unique=False)
    op.create_index(op.f("ix_auditentry_at"), "auditentry", ["at"], unique=False)
    op.create_index(op.f("ix_auditentry_actor_id"), "auditentry", ["actor_id"], unique=False)
    op.create_index(op.f("ix_auditentry_action"), "auditentry", ["action"], unique=False)
    if op.get_bind().dialect.name == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER auditentry_no_{operation.lower()} BEFORE {operation} ON auditentry "
                f"BEGIN SELECT RAISE(ABORT, 'the audit record is append-only: {operation} refused'); END"
            )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(
            "CREATE TRIGGER auditentry_append_only BEFORE UPDATE OR DELETE ON auditentry "
            "FOR EACH ROW EXECUTE FUNCTION ronda_audit_append_only()"
        )
        op.execute(
            "CREATE TRIGGER auditentry_no_truncate BEFORE TRUNCATE ON auditentry "
            "FOR EACH STATEMENT EXECUTE FUNCTION ronda_audit_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS auditentry_no_update")
        op.execute("DROP TRIGGER IF EXISTS auditentry_no_delete")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS auditentry_no_truncate ON auditentry")
        op.execute("DROP TRIGGER IF EXISTS auditentry_append_only ON auditentry")
        op.execute("DROP FUNCTION IF EXISTS ronda_audit_append_only()")
    op.drop_index(op.f("ix_auditentry_action"), table_name="auditentry")
    op.drop_index(op.f("ix_auditentry_actor_id"), table_name="auditentry")
    op.drop_index(op.f("ix_auditentry_at"), table_name="auditentry")
    op.drop_index("ix_auditentry_object", table_name="auditentry")
    op.drop_table("auditentry")
    _drop_patrol_reference("incidentchange", "patrol_id")
    op.drop_index(op.f("ix_incident_assigned_patrol_id"), table_name="incident")
    _drop_patrol_reference("incident", "assigned_patrol_id")
