"""the GPS accuracy of a report

Revision ID: 7d3f2a9c4b10
Revises: 5c2e8d41a7f3
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7d3f2a9c4b10"
down_revision: str | None = "5c2e8d41a7f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: reports made before, imported ones and those placed on a map have none.
    op.add_column("incident", sa.Column("accuracy", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident") as batch_op:
        batch_op.drop_column("accuracy")
