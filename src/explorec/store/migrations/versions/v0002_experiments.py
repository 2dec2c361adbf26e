"""Experiments and their counterfactual propensities (issue 13).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("definition", _json, nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_experiments")),
    )
    op.create_table(
        "counterfactuals",
        sa.Column("recommendation_id", sa.String(256), nullable=False),
        sa.Column("experiment", sa.String(64), nullable=False),
        sa.Column("variant", sa.String(64), nullable=False),
        sa.Column("propensities", _json, nullable=False),
        sa.Column("timestamp", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("recommendation_id", name=op.f("pk_counterfactuals")),
    )
    op.create_index(op.f("ix_counterfactuals_experiment"), "counterfactuals", ["experiment"])


def downgrade() -> None:
    op.drop_index(op.f("ix_counterfactuals_experiment"), table_name="counterfactuals")
    op.drop_table("counterfactuals")
    op.drop_table("experiments")
