"""What only one backend has: SQLite's durability pragmas, PostgreSQL's URLs, restarts and outages."""

from __future__ import annotations

import gc
import sqlite3
import threading
from pathlib import Path

import port_for
import pytest

from explorec.store import EventIn, ItemIn, Store, StoreUnavailable, UserIn
from explorec.store.pgserver import PostgresServer


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")  # missing folder is created
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
    assert store.backend == "sqlite"
    store.close()


def test_plain_postgresql_url_uses_psycopg3(pg_server: PostgresServer) -> None:
    url = pg_server.create_database("plain_url")
    store = Store.open(url.replace("postgresql+psycopg://", "postgresql://"))
    assert store.engine.dialect.driver == "psycopg"
    store.migrate()
    store.ping()
    store.close()


def test_unreachable_postgresql_raises_store_unavailable() -> None:
    port = port_for.select_random()  # nothing listens there
    store = Store.open(f"postgresql://postgres@127.0.0.1:{port}/nothing")
    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}"):
        store.ping()
    with pytest.raises(StoreUnavailable):
        store.append_events([EventIn("e1", "u1", "a", "click")])
    store.close()


def test_store_recovers_by_itself_after_a_postgresql_restart(pg_server: PostgresServer) -> None:
    store = Store.open(pg_server.create_database("restart"))
    store.migrate()
    store.upsert_items([ItemIn("a")])
    assert store.append_events([EventIn("e1", "u1", "a", "click")]).accepted == ("e1",)
    pg_server.stop()
    try:
        with pytest.raises(StoreUnavailable, match="unavailable during append"):
            store.append_events([EventIn("e2", "u1", "a", "click")])
        with pytest.raises(StoreUnavailable):
            store.ping()
    finally:
        pg_server.start()
    # every pooled connection died with the server; the store reconnects by itself
    store.ping()
    result = store.append_events([EventIn("e2", "u1", "a", "click"), EventIn("e1", "u1", "a", "click")])
    assert (result.accepted, result.duplicates) == (("e2",), ("e1",))
    assert store.count_events() == 2
    store.close()


def test_sqlite_request_reads_use_one_driver_connection_per_thread(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    store.migrate()
    try:
        assert store.lookup_user("u") == (None, 0)
        # a write through another connection (another process in production) is seen by the next read
        other = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
        (index,) = other.upsert_users([UserIn("u")])
        other.close()
        assert store.lookup_user("u") == (index, 0)
        assert store.user_indices(["u"]) == {"u": index}
        assert len(store._reader_conns) == 1  # the same connection for both reads of this thread

        # another thread gets its own connection, which goes when the thread ends
        seen: list[tuple[int | None, int]] = []
        worker = threading.Thread(target=lambda: seen.append(store.lookup_user("u")))
        worker.start()
        worker.join()
        assert seen == [(index, 0)]
        del worker
        gc.collect()
        assert len(store._reader_conns) == 1

        # the reader cannot write, and a driver error is StoreUnavailable, after which it reconnects
        conn = store._readers.conn
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM users")
        store._readers.conn.close()  # a broken connection
        with pytest.raises(StoreUnavailable, match="unavailable during lookup_user"):
            store.lookup_user("u")
        assert store.lookup_user("u") == (index, 0)
    finally:
        store.close()
    assert len(store._reader_conns) == 0
    with pytest.raises(sqlite3.ProgrammingError):  # closed with the store
        conn.execute("SELECT 1")
