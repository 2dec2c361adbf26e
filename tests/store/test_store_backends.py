"""What only one backend has: SQLite's durability pragmas, PostgreSQL's URLs, restarts and outages."""

from __future__ import annotations

import sqlite3
import threading
import time
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


def test_sqlite_request_reads_share_idle_driver_connections(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    store.migrate()
    closed_with_store = None
    try:
        assert store.lookup_user("u") == (None, 0)
        # a write through another connection (another process in production) is seen by the next read
        other = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
        (index,) = other.upsert_users([UserIn("u")])
        other.close()
        assert store.lookup_user("u") == (index, 0)
        assert store.user_indices(["u"]) == {"u": index}
        assert len(store._idle_readers) == 1  # one connection served all three reads

        # two threads reading at once get two connections; both go back to the idle list
        barrier = threading.Barrier(2)
        seen: list[tuple[int | None, int]] = []

        def read() -> None:
            barrier.wait()
            seen.append(store.lookup_user("u"))

        store._idle_readers.clear()  # (the first connection is dropped: both threads must open one)
        workers = [threading.Thread(target=read) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert seen == [(index, 0), (index, 0)]
        assert 1 <= len(store._idle_readers) <= 2

        # the reader cannot write; an unreachable database is StoreUnavailable, then it recovers
        conn = store._idle_readers[0]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM users")
        (tmp_path / "x.db").rename(tmp_path / "moved.db")
        for c in store._idle_readers:
            c.close()
        store._idle_readers.clear()
        with pytest.raises(StoreUnavailable, match="unavailable during lookup_user"):
            store.lookup_user("u")  # the file is gone: not created anew
        assert not (tmp_path / "x.db").exists()
        (tmp_path / "moved.db").rename(tmp_path / "x.db")
        assert store.lookup_user("u") == (index, 0)
        closed_with_store = store._idle_readers[0]
    finally:
        store.close()
    assert closed_with_store is not None
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):  # closed by Store.close
        closed_with_store.execute("SELECT 1")
    with pytest.raises(StoreUnavailable, match="closed"):
        store.lookup_user("u")


def test_closing_the_store_during_a_read_waits_for_the_reader(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    store.migrate()
    store.lookup_user("u")  # one idle connection, which the reader below takes
    slow = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT count(*) FROM c"
    )
    rows: list[tuple[object, ...]] = []
    worker = threading.Thread(target=lambda: rows.append(store._read_one("a slow read", slow, (3_000_000,))))
    worker.start()
    while store._idle_readers:  # taken: the slow statement (about a second) is running
        time.sleep(0.001)
    store.close()  # must not close the connection under the reader (that would crash the process)
    worker.join()
    assert rows == [(3_000_000,)]
    assert store._idle_readers == []  # the reader closed its own connection, the store being closed
