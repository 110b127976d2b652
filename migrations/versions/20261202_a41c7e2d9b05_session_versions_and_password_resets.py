"""session versions and password resets

Revision ID: a41c7e2d9b05
Revises: 8b1d0c3e5f21
Create Date: 2026-12-02 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from zones.database import UTCDateTime

revision: str = "a41c7e2d9b05"
down_revision: str | None = "8b1d0c3e5f21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Tokens issued before this revision carry no version and are refused: everyone signs in once.
    op.add_column("user", sa.Column("session_version", sa.Integer(), nullable=False, server_default="0"))
    op.add_column(
        "user", sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("user", sa.Column("reset_expires_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column("user", sa.Column("updated_at", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user") as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("reset_expires_at")
        batch_op.drop_column("must_change_password")
        batch_op.drop_column("session_version")
