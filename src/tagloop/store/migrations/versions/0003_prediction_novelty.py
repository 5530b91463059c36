"""predictions: novelty and unknown (answers for photos unlike the training images)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("novelty", sa.Float(), nullable=True))
        batch.add_column(
            sa.Column("unknown", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("unknown")
        batch.drop_column("novelty")
