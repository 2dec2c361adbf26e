"""Fixtures of the store contract suite: every test runs against SQLite and a real PostgreSQL.

The PostgreSQL server is private to the test session (pytest-postgresql's executor on the Debian
binaries, run as the ``postgres`` user when the tests run as root). When the binaries are missing
the PostgreSQL half fails, it is never skipped: `.ci/run` installs the package.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from explorec.store import Store
from explorec.store.pgserver import PostgresServer, private_postgres

BACKENDS = ("sqlite", "postgresql")
_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with private_postgres() as server:  # fsync on, as in production
        yield server


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'explorec.db'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = f"store_test_{next(_names)}"
    yield server.create_database(name)
    server.drop_database(name)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    s.migrate()
    yield s
    s.close()
