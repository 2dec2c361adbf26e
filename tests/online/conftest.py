"""Fixtures of the online-learning tests: a private PostgreSQL server (never skipped) and SQLite."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from explorec.store.pgserver import PostgresServer, private_postgres

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with private_postgres() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    name = f"online_test_{next(_names)}"
    yield pg_server.create_database(name)
    pg_server.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'online.db'}"
