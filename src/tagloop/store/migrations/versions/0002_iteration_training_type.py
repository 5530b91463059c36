"""iterations: training type and budget (advanced training)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("iterations") as batch:
        batch.add_column(
            sa.Column("training_type", sa.String(length=20), nullable=False, server_default="quick")
        )
        batch.add_column(sa.Column("budget_seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("iterations") as batch:
        batch.drop_column("budget_seconds")
        batch.drop_column("training_type")
