"""the phone's clock of alarm presses (late alarms from an outbox)

Revision ID: 5c2e8d41a7f3
Revises: 9f1e38719b1a
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zones.database

revision: str = "5c2e8d41a7f3"
down_revision: str | None = "9f1e38719b1a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs (nullable, no foreign key): no table copy, the partial unique index of
    # active alarms per block stays as it is.
    op.add_column("alarm", sa.Column("pressed_at", zones.database.UTCDateTime(timezone=True), nullable=True))
    op.add_column("alarmtrigger", sa.Column("pressed_at", zones.database.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alarmtrigger") as batch_op:
        batch_op.drop_column("pressed_at")
    with op.batch_alter_table("alarm") as batch_op:
        batch_op.drop_column("pressed_at")
