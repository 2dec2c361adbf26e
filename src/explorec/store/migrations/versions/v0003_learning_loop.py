"""Feature rows of linear-bandit slates and the erasure log (issue 13).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "slot_features",
        sa.Column("recommendation_id", sa.String(256), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("rows", sa.LargeBinary(), nullable=False),
        sa.Column("timestamp", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("recommendation_id", name=op.f("pk_slot_features")),
    )
    op.create_index(op.f("ix_slot_features_user_id"), "slot_features", ["user_id"])
    op.create_table(
        "erasures",
        sa.Column("seq", _seq, autoincrement=True, nullable=False),
        sa.Column("user_hash", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_erasures")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("erasures")
    op.drop_index(op.f("ix_slot_features_user_id"), table_name="slot_features")
    op.drop_table("slot_features")
