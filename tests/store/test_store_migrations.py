"""The schema that Alembic builds is exactly the SQLAlchemy metadata (no drift), on both backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, inspect

from explorec.store import Store
from explorec.store.tables import metadata


def _diff(store: Store, target: MetaData) -> list[Any]:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, target))


def test_migrated_schema_matches_the_metadata(store: Store) -> None:
    store.migrate()  # a second upgrade is a no-op
    assert _diff(store, metadata) == []
    tables = set(inspect(store.engine).get_table_names())
    assert tables == set(metadata.tables) | {"alembic_version"}


def test_drift_check_sees_a_column_the_migrations_lack(store: Store) -> None:
    # the comparison above could pass vacuously; a metadata with one more column must differ
    drifted = MetaData(naming_convention=dict(metadata.naming_convention))
    for table in metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["events"].append_column(Column("extra", Integer, nullable=True))
    diff = _diff(store, drifted)
    assert [(d[0], d[2], d[3].name) for d in diff] == [("add_column", "events", "extra")]
