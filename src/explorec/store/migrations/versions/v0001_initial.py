"""Initial schema: counters, items, users, events, impressions, api_keys.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_id = sa.String(256)


def upgrade() -> None:
    counters = op.create_table(
        "counters",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("next_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_counters"),
    )
    op.bulk_insert(counters, [{"name": "items", "next_value": 0}, {"name": "users", "next_value": 0}])
    op.create_table(
        "items",
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("item_id", _id, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("fields", _json, nullable=False),
        sa.Column("categories", _json, nullable=False),
        sa.Column("available", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("timestamp", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("idx", name="pk_items"),
        sa.UniqueConstraint("item_id", name="uq_items_item_id"),
    )
    op.create_table(
        "users",
        sa.Column("idx", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("user_id", _id, nullable=False),
        sa.Column("fields", _json, nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("idx", name="pk_users"),
        sa.UniqueConstraint("user_id", name="uq_users_user_id"),
    )
    op.create_table(
        "events",
        sa.Column("seq", _seq, autoincrement=True, nullable=False),
        sa.Column("event_id", _id, nullable=False),
        sa.Column("user_id", _id, nullable=False),
        sa.Column("item_id", _id, nullable=False),
        sa.Column("item", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("timestamp", sa.Double(), nullable=False),
        sa.Column("recommendation_id", _id, nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("attributed", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_events"),
        sa.UniqueConstraint("event_id", name="uq_events_event_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_user_id_timestamp", "events", ["user_id", "timestamp"])
    op.create_index("ix_events_recommendation_id", "events", ["recommendation_id"])
    op.create_table(
        "impressions",
        sa.Column("seq", _seq, autoincrement=True, nullable=False),
        sa.Column("recommendation_id", _id, nullable=False),
        sa.Column("user_id", _id, nullable=False),
        sa.Column("timestamp", sa.Double(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_impressions"),
        sa.UniqueConstraint("recommendation_id", name="uq_impressions_recommendation_id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_impressions_user_id", "impressions", ["user_id"])
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("name", _id, nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    op.drop_index("ix_impressions_user_id", table_name="impressions")
    op.drop_table("impressions")
    op.drop_index("ix_events_recommendation_id", table_name="events")
    op.drop_index("ix_events_user_id_timestamp", table_name="events")
    op.drop_table("events")
    op.drop_table("users")
    op.drop_table("items")
    op.drop_table("counters")
