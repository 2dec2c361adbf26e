"""The store's schema: SQLAlchemy 2 typed tables, one module, shared by SQLite and PostgreSQL.

Every change to this module needs an Alembic revision in ``explorec/store/migrations/versions``;
``tests/store/test_migrations.py`` fails when the migrated schema and this metadata drift apart.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Double, Index, Integer, LargeBinary, MetaData, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from explorec.store.base import MAX_ID_LENGTH

# Named constraints make migrations reproducible: Alembic compares and drops constraints by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite autoincrements only a column declared exactly INTEGER PRIMARY KEY.
SeqType = BigInteger().with_variant(Integer(), "sqlite")
Id = String(MAX_ID_LENGTH)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Counter(Base):
    """Next free internal index per vocabulary (``items``, ``users``).

    A counter row, not a database sequence: sequences skip values on rolled-back or conflicting
    inserts, and the models need dense indices ``0..n-1``. Updating the row inside the inserting
    transaction also serialises concurrent inserters (row lock on PostgreSQL).
    """

    __tablename__ = "counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_value: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Item(Base):
    __tablename__ = "items"
    index: Mapped[int] = mapped_column("idx", Integer, primary_key=True, autoincrement=False)
    item_id: Mapped[str] = mapped_column(Id, nullable=False, unique=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    categories: Mapped[list[str]] = mapped_column(JSONType, nullable=False)
    available: Mapped[bool] = mapped_column(Boolean, nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    timestamp: Mapped[float] = mapped_column(Double, nullable=False)
    created_at: Mapped[float] = mapped_column(Double, nullable=False)
    updated_at: Mapped[float] = mapped_column(Double, nullable=False)


class User(Base):
    __tablename__ = "users"
    index: Mapped[int] = mapped_column("idx", Integer, primary_key=True, autoincrement=False)
    user_id: Mapped[str] = mapped_column(Id, nullable=False, unique=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[float] = mapped_column(Double, nullable=False)
    updated_at: Mapped[float] = mapped_column(Double, nullable=False)


class Event(Base):
    __tablename__ = "events"
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(Id, nullable=False, unique=True)
    user_id: Mapped[str] = mapped_column(Id, nullable=False)
    item_id: Mapped[str] = mapped_column(Id, nullable=False)
    item: Mapped[int] = mapped_column(Integer, nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    value: Mapped[float] = mapped_column(Double, nullable=False)
    timestamp: Mapped[float] = mapped_column(Double, nullable=False)
    recommendation_id: Mapped[str | None] = mapped_column(Id, nullable=True)
    position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attributed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    received_at: Mapped[float] = mapped_column(Double, nullable=False)

    # AUTOINCREMENT on SQLite: without it a deleted last row's seq would be handed out again, and
    # a reader whose cursor already passed it would miss the new event.
    __table_args__ = (
        Index(None, "user_id", "timestamp"),
        Index(None, "recommendation_id"),
        {"sqlite_autoincrement": True},
    )


class Impression(Base):
    """A shown slate: the whole :class:`~explorec.impressions.ImpressionRecord` as JSON text."""

    __tablename__ = "impressions"
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    recommendation_id: Mapped[str] = mapped_column(Id, nullable=False, unique=True)
    user_id: Mapped[str] = mapped_column(Id, nullable=False, index=True)
    timestamp: Mapped[float] = mapped_column(Double, nullable=False)
    # Text, not JSON: the record is kept byte for byte as ImpressionRecord.to_json wrote it.
    record: Mapped[str] = mapped_column(Text, nullable=False)

    __table_args__ = ({"sqlite_autoincrement": True},)


class ApiKey(Base):
    """An API key: the public ``key_id`` and the SHA-256 of the secret, never the secret."""

    __tablename__ = "api_keys"
    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    scope: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(Id, nullable=False)
    created_at: Mapped[float] = mapped_column(Double, nullable=False)
    revoked: Mapped[bool] = mapped_column(Boolean, nullable=False)


class Experiment(Base):
    """An experiment definition (``PUT /v1/experiments/{name}``): variants, shares and salt as JSON."""

    __tablename__ = "experiments"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[float] = mapped_column(Double, nullable=False)
    updated_at: Mapped[float] = mapped_column(Double, nullable=False)


class Counterfactual(Base):
    """For a slate shown in an experiment: the probability that each *other* variant would have put
    each shown item at its position, given the same candidates (the off-policy estimators' input)."""

    __tablename__ = "counterfactuals"
    recommendation_id: Mapped[str] = mapped_column(Id, primary_key=True)
    experiment: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    variant: Mapped[str] = mapped_column(String(64), nullable=False)
    # {variant: [p per shown slot]}
    propensities: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    timestamp: Mapped[float] = mapped_column(Double, nullable=False)


class SlotFeatures(Base):
    """The feature row of each policy-chosen slot of a slate built by a linear bandit policy (issue 13):
    float16 ``[slots, dim]`` bytes, from which every replica replays the linear posteriors."""

    __tablename__ = "slot_features"
    recommendation_id: Mapped[str] = mapped_column(Id, primary_key=True)
    user_id: Mapped[str] = mapped_column(Id, nullable=False, index=True)
    dim: Mapped[int] = mapped_column(Integer, nullable=False)
    rows: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    timestamp: Mapped[float] = mapped_column(Double, nullable=False)


class Erasure(Base):
    """One erased user (``DELETE /v1/users/{id}``), by the SHA-256 of the id only: replicas that see a
    new row rebuild their aggregate state from the store without that user."""

    __tablename__ = "erasures"
    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    user_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    timestamp: Mapped[float] = mapped_column(Double, nullable=False)

    __table_args__ = ({"sqlite_autoincrement": True},)


metadata = Base.metadata
