"""Fixtures of the service tests: the app through TestClient over a real store (SQLite and PostgreSQL).

The PostgreSQL server is private to the test session (see ``explorec.store.pgserver``); when its
binaries are missing the PostgreSQL half fails, it is never skipped.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_helpers import Api, service_settings

from explorec.service.app import create_app
from explorec.service.settings import ServiceSettings
from explorec.store.pgserver import PostgresServer, private_postgres

BACKENDS = ("sqlite", "postgresql")
_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    with private_postgres() as server:
        yield server


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'service.db'}"


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.db'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = f"service_test_{next(_names)}"
    yield server.create_database(name)
    server.drop_database(name)


@pytest.fixture
def start_api() -> Iterator[Callable[..., Api]]:
    """``start_api(settings)``: the app started (lifespan run) with a read, a write and an admin key."""
    clients: list[TestClient] = []

    def start(settings: ServiceSettings, **kw: Any) -> Api:
        client = TestClient(create_app(settings), raise_server_exceptions=False, **kw)
        client.__enter__()
        clients.append(client)
        store = client.app.state.store  # type: ignore[attr-defined]
        keys = {
            scope: store.create_key(scope=scope, name=f"test-{scope}") for scope in ("read", "write", "admin")
        }
        return Api(client, keys)

    yield start
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def api(store_url: str, start_api: Callable[..., Api]) -> Api:
    # store_url first: its database is dropped only after the app using it has stopped
    return start_api(service_settings(store_url))
