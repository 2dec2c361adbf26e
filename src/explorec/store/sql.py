"""The service's store on SQLAlchemy 2: one class for SQLite (embedded default) and PostgreSQL.

Durability
    ``append_events`` and ``append_impression`` return only after their transaction committed:
    on SQLite in WAL mode with ``synchronous=FULL`` (the WAL is fsynced at every commit), on
    PostgreSQL with its default ``synchronous_commit=on``.
Group commit
    A committer thread owns all event and impression writes. Callers put their batch on a queue
    and wait; the committer takes everything that queued up while the previous commit was being
    flushed and writes it in one transaction, so one fsync serves many concurrent callers
    (Gray & Reuter, *Transaction Processing*, 9.4.7). A caller never waits for a timer. On SQLite
    the committer keeps one connection for its life (no pool checkout and reset per commit); on
    PostgreSQL it checks one out per commit, so that the pool's pre-ping finds a restarted server.
Several processes on one SQLite file
    (``workers = N``) each have a committer; they take turns through an exclusive ``flock`` on
    ``<database>.write-lock`` around each write transaction. Without it the loser of SQLite's write
    lock polls with growing sleeps (1, 2, 5, 10 ... 100 ms, SQLite's busy handler) and can lose again
    and again to the other process's next commit; the kernel lock wakes the waiter as soon as the
    holder releases it. The kernel drops the lock of a killed process.
Idempotency
    ``INSERT ... ON CONFLICT (event_id) DO NOTHING``: a replayed event adds nothing and is reported
    as a duplicate; impressions are idempotent on ``recommendation_id`` the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.engine import make_url

from explorec.errors import ConfigError, DataError

try:
    import fcntl
except ImportError:  # not on Windows: there, the committers of several processes rely on busy_timeout
    fcntl = None  # type: ignore[assignment]
from explorec.impressions import ImpressionRecord
from explorec.store.base import (
    MAX_ID_LENGTH,
    SCOPES,
    AppendResult,
    EventIn,
    EventRow,
    HistoryEvent,
    ItemIn,
    ItemRow,
    KeyRow,
    StoreUnavailable,
    UserIn,
    UserRow,
)
from explorec.store.tables import (
    ApiKey,
    Counter,
    Counterfactual,
    Erasure,
    Event,
    Impression,
    Item,
    SlotFeatures,
    User,
)

logger = logging.getLogger(__name__)

#: key of the PostgreSQL advisory lock that serialises event/impression appends across replicas,
#: so that ``seq`` order is commit order and a reader's cursor never skips a late commit
_APPEND_LOCK = 0x6578_7072_6563  # "explrec"
#: key of the advisory lock held while migrating (two replicas starting together)
_MIGRATE_LOCK = _APPEND_LOCK + 1
#: rows per IN (...) lookup: well below SQLite's and PostgreSQL's bound-parameter limits
_CHUNK = 5000
_KEY_PREFIX = "exr_"


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _check_id(kind: str, value: object, where: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise DataError(
            f"{where}: {kind} must be a non-empty string of at most {MAX_ID_LENGTH} characters, "
            f"got {value!r:.80}"
        )
    return value


def _hash_secret(secret: str) -> str:
    # API secrets are 256-bit random tokens, so a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass
class _Job:
    """One caller's write, waiting for the committer."""

    events: Sequence[EventIn] = ()
    impression: ImpressionRecord | None = None
    future: Future[Any] = field(default_factory=Future)

    @property
    def size(self) -> int:
        return len(self.events) if self.impression is None else 1


class Store:
    """Items, users, feedback events, impressions and API keys in one SQL database.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        Made by :meth:`open` (which sets the SQLite pragmas); one engine per process.
    max_batch_rows : int
        Most rows the committer writes in one transaction (a bound on a commit's latency).

    Examples
    --------
    >>> store = Store.open("sqlite:///service.db")  # doctest: +SKIP
    >>> store.migrate()                               # doctest: +SKIP
    """

    def __init__(self, engine: Engine, *, max_batch_rows: int = 20_000) -> None:
        self.engine = engine
        self.max_batch_rows = max_batch_rows
        self._write_engine = engine.execution_options(explorec_write=True)
        # one-statement reads on the hottest paths: a statement is its own snapshot, so SQLite
        # needs no BEGIN around it (see _configure_sqlite)
        self._single_engine = engine.execution_options(explorec_single=True)
        #: the committer thread's own connection (SQLite only; see the module docstring)
        self._committer_conn: Connection | None = None
        #: the file whose flock serialises the committers of all processes on this SQLite file
        database = engine.url.database if self.backend == "sqlite" else None
        self._write_lock_path = None if not database else Path(f"{database}.write-lock").expanduser()
        self._write_lock_fd: int | None = None
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._committer: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        # item_id -> index; safe to cache because an item's index never changes and item rows are
        # never removed (deletion only marks them), so a cached hit can never be stale
        self._item_index: dict[str, int] = {}
        #: transactions the committer has committed (for tests and metrics)
        self.commits = 0
        # SQLite: idle driver connections for the one-statement reads of every request (see
        # _read_one); a reader takes one, or opens one when none is idle, and puts it back, so there
        # are never more than the threads reading at once, and close() only closes idle ones
        self._idle_readers: list[sqlite3.Connection] = []

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, url: str, *, pool_size: int = 8, max_batch_rows: int = 20_000) -> Store:
        """Connect to ``url``: ``sqlite:///path/file.db`` or ``postgresql[+psycopg]://...``.

        A plain ``postgresql://`` URL is served by psycopg 3. The SQLite file's folder is created
        when missing. Nothing is created in the database until :meth:`migrate`.
        """
        try:
            parsed = make_url(url)
        except sa_exc.ArgumentError:
            raise ConfigError(
                f"database_url {url!r} is not a URL; expected sqlite:///FILE or postgresql://..."
            ) from None
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            if parsed.database in (None, "", ":memory:") or (parsed.query.get("mode") == "memory"):
                raise ConfigError(
                    f"database_url {url!r}: an in-memory SQLite database is not durable; "
                    "give a file, e.g. sqlite:///explorec.db"
                )
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                parsed.set(drivername="sqlite+pysqlite"),
                pool_size=pool_size,
                connect_args={"timeout": 30.0},
            )
            _configure_sqlite(engine)
        elif backend == "postgresql":
            if parsed.drivername == "postgresql":
                parsed = parsed.set(drivername="postgresql+psycopg")
            elif parsed.get_driver_name() != "psycopg":
                raise ConfigError(
                    f"database_url {url!r}: driver {parsed.get_driver_name()!r} is not supported; "
                    "use postgresql:// or postgresql+psycopg:// (psycopg 3)"
                )
            engine = create_engine(parsed, pool_size=pool_size, pool_pre_ping=True)
        else:
            raise ConfigError(
                f"database_url {url!r}: unsupported database {backend!r}; allowed: sqlite, postgresql"
            )
        return cls(engine, max_batch_rows=max_batch_rows)

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        """The database URL with any password hidden (safe to log)."""
        return self.engine.url.render_as_string(hide_password=True)

    def migrate(self) -> None:
        """Bring the schema to the newest revision (``alembic upgrade head``; idempotent)."""
        from alembic import command
        from alembic.config import Config

        script_location = resources.files("explorec.store") / "migrations"
        config = Config()
        config.set_main_option("script_location", str(script_location))
        with self._guard("migrate"), self._write_engine.begin() as conn:
            if self.backend == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATE_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        logger.info("store %s migrated to head", self.url)

    def ping(self) -> None:
        """Raise :class:`StoreUnavailable` when the database cannot answer ``SELECT 1``."""
        with self._guard("ping"), self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def close(self) -> None:
        """Commit what is queued, stop the committer and close the connections."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            committer = self._committer
        if committer is not None:
            self._queue.put(None)
            committer.join()
        with self._lock:  # a reader still reading closes its own connection when it is done
            readers, self._idle_readers = self._idle_readers, []
        for conn in readers:
            conn.close()
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Turn "cannot reach the database" into :class:`StoreUnavailable` (HTTP 503)."""
        try:
            yield
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            raise StoreUnavailable(f"store {self.url} unavailable during {what}: {exc.orig}") from exc
        except sa_exc.DBAPIError as exc:
            if exc.connection_invalidated:
                raise StoreUnavailable(f"store {self.url} lost the connection during {what}") from exc
            raise

    # ------------------------------------------------------------------ items
    def upsert_items(self, items: Sequence[ItemIn]) -> list[int]:
        """Insert or update ``items``; return their internal indices, aligned with the input.

        A new item gets the next free index; an existing one keeps its index and has every field
        replaced (a deleted item posted again is recommendable again, at its old index).
        """
        ids = [_check_id("item_id", it.item_id, f"items[{j}]") for j, it in enumerate(items)]
        _no_repeats("item_id", ids)
        for j, it in enumerate(items):
            if any(not isinstance(c, str) for c in it.categories):
                raise DataError(f"items[{j}] ({it.item_id!r}): categories must be strings")
        now = time.time()
        with self._guard("upsert_items"), self._write_engine.begin() as conn:
            index, existing = self._assign_indices(conn, "items", Item, Item.item_id, ids)
            rows = [
                {
                    "index": index[it.item_id],
                    "item_id": it.item_id,
                    "text": it.text,
                    "fields": dict(it.fields),
                    "categories": list(it.categories),
                    "available": bool(it.available),
                    "deleted": False,
                    "timestamp": float(it.timestamp),
                    "created_at": now,
                    "updated_at": now,
                }
                for it in items
            ]
            fresh = [r for r in rows if r["item_id"] not in existing]
            if fresh:
                conn.execute(insert(Item), _columns(Item, fresh))
            old = [{f"b_{k}": v for k, v in r.items()} for r in rows if r["item_id"] in existing]
            if old:
                conn.execute(_UPDATE_ITEM, old)
        self._item_index.update(index)
        return [index[i] for i in ids]

    def get_item(self, item_id: str) -> ItemRow | None:
        """The stored item (deleted ones too, with ``deleted=True``), or None when unknown."""
        with self._guard("get_item"), self.engine.connect() as conn:
            row = conn.execute(select(Item.__table__).where(Item.item_id == item_id)).first()
        return None if row is None else _item_row(row._mapping)

    def delete_item(self, item_id: str) -> bool:
        """Mark the item deleted (never recommended again; its index stays reserved).

        Returns False when the item is unknown or already deleted.
        """
        with self._guard("delete_item"), self._write_engine.begin() as conn:
            result = conn.execute(
                update(Item)
                .where(Item.item_id == item_id, Item.deleted.is_(False))
                .values(deleted=True, updated_at=time.time())
            )
        return bool(result.rowcount)

    def items(self, after_index: int = -1) -> list[ItemRow]:
        """Items with ``index > after_index`` in index order (deleted ones included, flagged)."""
        with self._guard("items"), self.engine.connect() as conn:
            rows = conn.execute(select(Item.__table__).where(Item.index > after_index).order_by(Item.index))
            return [_item_row(r._mapping) for r in rows]

    # ------------------------------------------------------------------ users
    def upsert_users(self, users: Sequence[UserIn]) -> list[int]:
        """Insert or update user profiles; return their internal indices, aligned with the input."""
        ids = [_check_id("user_id", u.user_id, f"users[{j}]") for j, u in enumerate(users)]
        _no_repeats("user_id", ids)
        now = time.time()
        with self._guard("upsert_users"), self._write_engine.begin() as conn:
            index, existing = self._assign_indices(conn, "users", User, User.user_id, ids)
            fresh = [
                {
                    "index": index[u.user_id],
                    "user_id": u.user_id,
                    "fields": dict(u.fields),
                    "created_at": now,
                    "updated_at": now,
                }
                for u in users
                if u.user_id not in existing
            ]
            if fresh:
                conn.execute(insert(User), _columns(User, fresh))
            old = [
                {"b_index": index[u.user_id], "b_fields": dict(u.fields), "b_updated_at": now}
                for u in users
                if u.user_id in existing
            ]
            if old:
                conn.execute(_UPDATE_USER, old)
        return [index[i] for i in ids]

    def get_user(self, user_id: str) -> UserRow | None:
        with self._guard("get_user"), self.engine.connect() as conn:
            row = conn.execute(select(User.__table__).where(User.user_id == user_id)).first()
        if row is None:
            return None
        m = row._mapping
        return UserRow(int(m["idx"]), m["user_id"], dict(m["fields"]), m["created_at"], m["updated_at"])

    def lookup_user(self, user_id: str) -> tuple[int | None, int]:
        """``(the user's index, or None when unknown; how many item indices the store handed out)``.

        One round trip, what the service asks on every recommendation request: whether the user
        still exists (erased through another replica?) and whether other replicas or workers added
        items this process does not serve yet.
        """
        if self.backend == "sqlite":
            index, n_items = self._read_one("lookup_user", _SQLITE_LOOKUP_USER, (user_id,))
        else:
            with self._guard("lookup_user"), self._single_engine.connect() as conn:
                index, n_items = conn.execute(_LOOKUP_USER, {"user_id": user_id}).one()
        return (None if index is None else int(index)), int(n_items or 0)

    def _read_one(self, what: str, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...]:
        """One row of a one-statement SQLite read, on an idle driver connection of this store.

        What every request asks (``lookup_user``, the single-event user lookup) costs ~7 µs this
        way against ~100 µs through a pooled SQLAlchemy connection (checkout, events, result
        objects). The connections are read-only (``PRAGMA query_only``) and in autocommit mode (no
        BEGIN): one statement is atomic and reads its own WAL snapshot, so it sees every transaction
        committed before it, by any process. A connection is used by one thread at a time and is
        closed only when idle (``close`` closes the idle ones; one in use is closed by its reader).
        An unreachable database (``OperationalError``: locked past the timeout, missing file, I/O)
        drops the connection and raises ``StoreUnavailable``; other driver errors propagate, as
        on the pooled path.
        """
        with self._lock:
            if self._closed:
                raise StoreUnavailable(f"store {self.url} is closed")
            conn = self._idle_readers.pop() if self._idle_readers else None
        try:
            if conn is None:
                conn = self._open_reader()
            row = conn.execute(sql, params).fetchone()
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, (sqlite3.OperationalError, sqlite3.InterfaceError)):
                raise StoreUnavailable(f"store {self.url} unavailable during {what}: {exc}") from exc
            raise
        with self._lock:
            keep = not self._closed
            if keep:
                self._idle_readers.append(conn)
        if not keep:
            conn.close()
        return tuple(row) if row is not None else ()

    def _open_reader(self) -> sqlite3.Connection:
        """A read-only driver connection to the SQLite file, opened as SQLAlchemy's engine opens it
        (the same file name and ``uri`` flag), and only if the file exists."""
        args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        database = str(args[0]) if args else str(kwargs.get("database"))
        # a URI as given; a plain file name as a URI with mode=rw, so that a missing file is an error
        target = database if kwargs.get("uri") else f"{Path(database).resolve().as_uri()}?mode=rw"
        conn = sqlite3.connect(target, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA query_only=ON")  # a reader: a bug here cannot write
        except BaseException:
            conn.close()
            raise
        return conn

    def user_indices(self, user_ids: Sequence[str]) -> dict[str, int]:
        """``{user_id: index}`` of the stored users among ``user_ids`` (one query per 5,000 ids)."""
        wanted = list(dict.fromkeys(user_ids))
        if len(wanted) == 1:
            # the single-event request's case: one cached statement, no expanding IN to compile
            if self.backend == "sqlite":
                row = self._read_one("user_indices", _SQLITE_USER_INDEX, (wanted[0],))
                index = row[0] if row else None
            else:
                with self._guard("user_indices"), self._single_engine.connect() as conn:
                    index = conn.execute(_USER_INDEX, {"user_id": wanted[0]}).scalar_one_or_none()
            return {} if index is None else {wanted[0]: int(index)}
        with self._guard("user_indices"), self.engine.connect() as conn:
            return self._existing(conn, User, User.user_id, wanted)

    def delete_user(self, user_id: str) -> bool:
        """Forget the user: profile, events and impressions, in one transaction.

        Returns True when anything was deleted. The user's index is not reused.
        """
        with self._guard("delete_user"), self._write_engine.begin() as conn:
            self._lock_appends(conn)
            n = 0
            # the learning loop's rows of the user's slates (issue 13) go with them
            slates = select(Impression.recommendation_id).where(Impression.user_id == user_id)
            conn.execute(delete(Counterfactual).where(Counterfactual.recommendation_id.in_(slates)))
            conn.execute(delete(SlotFeatures).where(SlotFeatures.user_id == user_id))
            for table, column in (
                (Event, Event.user_id),
                (Impression, Impression.user_id),
                (User, User.user_id),
            ):
                n += conn.execute(delete(table).where(column == user_id)).rowcount
            if n:
                # replicas rebuild their aggregates without the user when they see a new erasure
                digest = hashlib.sha256(user_id.encode()).hexdigest()
                conn.execute(insert(Erasure).values(user_hash=digest, timestamp=time.time()))
        logger.info("deleted user (%d rows)", n)
        return n > 0

    # ------------------------------------------------------------------ events and impressions
    def append_events(self, events: Sequence[EventIn]) -> AppendResult:
        """Store ``events`` durably (committed when this returns), idempotent on ``event_id``.

        Raises
        ------
        DataError
            An event names an item the store does not know, or has a malformed field; the message
            names the event_id. Nothing of this call is stored then.
        StoreUnavailable
            The database could not be reached; nothing of this call is stored.
        """
        result: AppendResult = self.submit_events(events).result()
        return result

    def submit_events(self, events: Sequence[EventIn]) -> Future[AppendResult]:
        """:meth:`append_events` without the wait: the future gives its result once the events are
        durable (or raises what the commit raised). Bad input raises here, before anything is queued."""
        for j, ev in enumerate(events):
            _check_event(j, ev)
        if not events:
            done: Future[AppendResult] = Future()
            done.set_result(AppendResult((), ()))
            return done
        return self._enqueue(_Job(events=tuple(events)))

    def append_impression(self, record: ImpressionRecord) -> None:
        """Log a shown slate durably (committed when this returns); idempotent on its id."""
        self.submit_impression(record).result()

    def submit_impression(self, record: ImpressionRecord) -> Future[Any]:
        """Queue a shown slate for the committer; the future is done once it is durable.

        What :meth:`append_impression` waits for, for a caller that waits elsewhere (the service awaits
        it on its event loop, so the thread that built the slate is free for the next request). The
        future raises what the commit raised (:class:`StoreUnavailable`, ...).
        """
        if not isinstance(record, ImpressionRecord):
            raise DataError(f"append_impression: expected an ImpressionRecord, got {type(record).__name__}")
        _check_id("recommendation_id", record.recommendation_id, "impression")
        return self._enqueue(_Job(impression=record))

    def read_events(self, after: int = 0, limit: int | None = None) -> list[EventRow]:
        """Events with ``seq > after`` in ``seq`` (commit) order; at most ``limit`` of them."""
        # the columns by position, in one cached statement: every replica's refresher and learner
        # read every event back, and a Row's mapping view per event cost more than the query
        no_limit = None if self.backend == "postgresql" else -1  # LIMIT NULL / LIMIT -1: no limit
        params: dict[str, int | None] = {
            "after": int(after),
            "limit": no_limit if limit is None else int(limit),
        }
        with self._guard("read_events"), self.engine.connect() as conn:
            return [_event_tuple(r) for r in conn.execute(_READ_EVENTS, params)]

    def read_history_events(self, after: int = 0, limit: int | None = None) -> list[HistoryEvent]:
        """``(seq, event_id, user_id, item_id, timestamp)`` of the events with ``seq > after``, in
        ``seq`` order: what a served history needs. Every replica's refresher reads every event back,
        so this reads plain tuples through the driver's own cursor, without a row object per event."""
        if self.backend == "postgresql":
            sql, params = _PG_READ_HISTORY_EVENTS, (int(after), None if limit is None else int(limit))
        else:
            sql, params = _SQLITE_READ_HISTORY_EVENTS, (int(after), -1 if limit is None else int(limit))
        with self._guard("read_history_events"), self.engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
            finally:
                cursor.close()

    def read_quoting_events(self, after: int = 0, limit: int = 5000) -> tuple[list[EventRow], int]:
        """The events with ``seq > after`` that quote a ``recommendation_id`` (what an online learner
        reads), at most ``limit`` of them, and the cursor to read on from.

        The cursor passes the events that quote nothing, so they are skipped in SQL instead of being
        read back: when fewer than ``limit`` rows come back it is the highest ``seq`` committed when
        the read began (commits are in ``seq`` order: an append holds the write lock, so no lower
        ``seq`` can commit later), else the ``seq`` of the last row.
        """
        with self._guard("read_quoting_events"), self.engine.connect() as conn:
            top = conn.execute(_MAX_EVENT_SEQ).scalar_one()
            if top is None or int(top) <= after:
                return [], int(after)
            params = {"after": int(after), "top": int(top), "limit": int(limit)}
            rows = [_event_tuple(r) for r in conn.execute(_READ_QUOTING_EVENTS, params).fetchall()]
        return rows, (rows[-1].seq if len(rows) >= limit else int(top))

    def user_events(self, user_id: str, limit: int = 100) -> list[EventRow]:
        """The user's ``limit`` most recent events (by event timestamp), newest last."""
        stmt = (
            select(Event.__table__)
            .where(Event.user_id == user_id)
            .order_by(Event.timestamp.desc(), Event.seq.desc())
            .limit(limit)
        )
        with self._guard("user_events"), self.engine.connect() as conn:
            rows = [_event_row(r._mapping) for r in conn.execute(stmt)]
        return rows[::-1]

    def count_events(self) -> int:
        with self._guard("count_events"), self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Event)).scalar_one())

    def get_impression(self, recommendation_id: str) -> ImpressionRecord | None:
        with self._guard("get_impression"), self.engine.connect() as conn:
            raw = conn.execute(
                select(Impression.record).where(Impression.recommendation_id == recommendation_id)
            ).scalar_one_or_none()
        return None if raw is None else ImpressionRecord.from_dict(json.loads(raw), source="impression log")

    def read_erasures(self, after: int = 0) -> list[tuple[int, str]]:
        """``(seq, sha256 of the user id)`` of the users erased with ``seq > after``, in order."""
        stmt = select(Erasure.seq, Erasure.user_hash).where(Erasure.seq > after).order_by(Erasure.seq)
        with self._guard("read_erasures"), self.engine.connect() as conn:
            return [(int(seq), str(digest)) for seq, digest in conn.execute(stmt)]

    def read_impressions(
        self, after: int = 0, limit: int | None = None
    ) -> list[tuple[int, ImpressionRecord]]:
        """``(seq, record)`` of the impressions with ``seq > after``, in commit order."""
        stmt = (
            select(Impression.seq, Impression.record).where(Impression.seq > after).order_by(Impression.seq)
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._guard("read_impressions"), self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            (int(seq), ImpressionRecord.from_dict(json.loads(raw), source=f"impression log seq {seq}"))
            for seq, raw in rows
        ]

    # ------------------------------------------------------------------ API keys
    def create_key(self, scope: str, name: str = "") -> str:
        """Create an API key of ``scope`` (read, write or admin); return its secret (shown once)."""
        if scope not in SCOPES:
            raise ConfigError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        if not isinstance(name, str) or len(name) > MAX_ID_LENGTH:
            raise ConfigError(f"key name must be a string of at most {MAX_ID_LENGTH} characters")
        key_id = secrets.token_hex(6)
        secret = f"{_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        with self._guard("create_key"), self._write_engine.begin() as conn:
            conn.execute(
                insert(ApiKey),
                {
                    "key_id": key_id,
                    "secret_hash": _hash_secret(secret),
                    "scope": scope,
                    "name": name,
                    "created_at": time.time(),
                    "revoked": False,
                },
            )
        logger.info("created API key %s (scope %s)", key_id, scope)
        return secret

    def verify_key(self, secret: str) -> KeyRow | None:
        """The key whose secret is ``secret``, or None (unknown, malformed or revoked).

        The secret's hash is compared in constant time (``hmac.compare_digest``); the lookup is by
        the public ``key_id`` part, so timing reveals nothing about the secret part.
        """
        if not isinstance(secret, str) or not secret.startswith(_KEY_PREFIX) or len(secret) > 200:
            return None
        key_id, sep, _ = secret[len(_KEY_PREFIX) :].partition("_")
        if not sep:
            return None
        with self._guard("verify_key"), self.engine.connect() as conn:
            row = conn.execute(select(ApiKey.__table__).where(ApiKey.key_id == key_id)).first()
        expected = row._mapping["secret_hash"] if row is not None else "0" * 64
        ok = hmac.compare_digest(expected.encode(), _hash_secret(secret).encode())
        if row is None or not ok or row._mapping["revoked"]:
            return None
        return _key_row(row._mapping)

    def revoke_key(self, key_id: str) -> bool:
        """Revoke a key by its public id; False when unknown or already revoked."""
        with self._guard("revoke_key"), self._write_engine.begin() as conn:
            result = conn.execute(
                update(ApiKey).where(ApiKey.key_id == key_id, ApiKey.revoked.is_(False)).values(revoked=True)
            )
        return bool(result.rowcount)

    def keys(self) -> list[KeyRow]:
        """All keys (without secrets), oldest first."""
        with self._guard("keys"), self.engine.connect() as conn:
            rows = conn.execute(select(ApiKey.__table__).order_by(ApiKey.created_at, ApiKey.key_id))
            return [_key_row(r._mapping) for r in rows]

    # ------------------------------------------------------------------ internals: writes
    def _assign_indices(
        self, conn: Connection, name: str, table: type[Item] | type[User], column: Any, ids: Sequence[str]
    ) -> tuple[dict[str, int], dict[str, int]]:
        """``({id: index} for every id, {id: index} of those already stored)``; new ids get the next free
        indices of vocabulary ``name``. The counter is locked before the lookup, so a concurrent
        inserter of the same new id waits and then finds it (no unique violation, no index reused)."""
        start = self._lock_counter(conn, name)
        existing = self._existing(conn, table, column, ids)
        new_ids = [i for i in ids if i not in existing]
        assigned = self._reserve(conn, name, start, len(new_ids))
        return {**existing, **dict(zip(new_ids, assigned, strict=True))}, existing

    def _existing(
        self, conn: Connection, table: type[Item] | type[User], column: Any, ids: Sequence[str]
    ) -> dict[str, int]:
        """``{external id: index}`` of the ids already stored."""
        found: dict[str, int] = {}
        for chunk in _chunks(ids):
            for ext, idx in conn.execute(select(column, table.index).where(column.in_(chunk))):
                found[ext] = int(idx)
        return found

    def _lock_counter(self, conn: Connection, name: str) -> int:
        """Lock vocabulary ``name``'s counter row until commit; return the next free index.

        Taken before the inserter looks up which ids exist: a concurrent inserter of the same new
        id then waits here and, once it may go on, sees the committed row (READ COMMITTED reads a
        fresh snapshot per statement). SQLite's BEGIN IMMEDIATE already serialises writers.
        """
        stmt = select(Counter.next_value).where(Counter.name == name).with_for_update()
        return int(conn.execute(stmt).scalar_one())

    def _reserve(self, conn: Connection, name: str, start: int, n: int) -> list[int]:
        """Take the ``n`` indices from ``start`` on (the counter row is locked by this transaction)."""
        if n:
            conn.execute(update(Counter).where(Counter.name == name).values(next_value=start + n))
        return list(range(start, start + n))

    def _lock_appends(self, conn: Connection) -> None:
        if self.backend == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK})

    def _enqueue(self, job: _Job) -> Future[Any]:
        with self._lock:
            if self._closed:
                raise StoreUnavailable(f"store {self.url} is closed")
            if self._committer is None:
                self._committer = threading.Thread(
                    target=self._commit_loop, name="explorec-committer", daemon=True
                )
                self._committer.start()
            self._queue.put(job)
        return job.future

    def _commit_loop(self) -> None:
        stop = False
        while not stop:
            job = self._queue.get()
            if job is None:
                break
            jobs, size = [job], job.size
            # everything that queued while the previous commit was flushing joins this transaction
            while size < self.max_batch_rows:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                jobs.append(nxt)
                size += nxt.size
            self._commit(jobs)
        self._drop_committer_conn()

    @contextmanager
    def _writer(self) -> Iterator[Connection]:
        """One write transaction of the committer, on its connection (see the module docstring)."""
        if self.backend != "sqlite":
            with self._write_engine.begin() as conn:
                yield conn
            return
        if self._committer_conn is None:
            self._committer_conn = self._write_engine.connect()
        with self._process_write_lock(), self._committer_conn.begin():
            yield self._committer_conn

    @contextmanager
    def _process_write_lock(self) -> Iterator[None]:
        """Hold the exclusive flock of the SQLite file's committers (see the module docstring)."""
        if self._write_lock_path is None or fcntl is None:
            yield
            return
        if self._write_lock_fd is None:
            self._write_lock_fd = os.open(self._write_lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._write_lock_fd, fcntl.LOCK_EX)  # blocks without the GIL until it is free
        try:
            yield
        finally:
            fcntl.flock(self._write_lock_fd, fcntl.LOCK_UN)

    def _drop_committer_conn(self) -> None:
        """Close the committer's connection (after a failed commit a fresh one is opened)."""
        if self._write_lock_fd is not None:
            os.close(self._write_lock_fd)
            self._write_lock_fd = None
        conn, self._committer_conn = self._committer_conn, None
        if conn is not None:
            try:
                conn.close()
            except sa_exc.SQLAlchemyError as exc:  # a broken connection may fail to close cleanly
                logger.warning("closing the committer's connection failed: %s", exc)

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            with self._guard("append"):
                outcomes = self._write_batch(jobs)
        except StoreUnavailable as exc:
            self._drop_committer_conn()
            for job in jobs:
                job.future.set_exception(exc)
            return
        except Exception as exc:
            self._drop_committer_conn()
            if len(jobs) == 1:
                jobs[0].future.set_exception(exc)
                return
            # one caller's write broke the shared transaction: retry each alone, so the others
            # are not failed for it
            logger.warning("group commit of %d writes failed (%s); retrying them one by one", len(jobs), exc)
            for job in jobs:
                self._commit([job])
            return
        self.commits += 1
        for job, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)

    def _write_batch(self, jobs: list[_Job]) -> list[AppendResult | BaseException | None]:
        """Write every job in one transaction; a job's own bad input becomes its outcome."""
        outcomes: list[AppendResult | BaseException | None] = [None] * len(jobs)
        now = time.time()
        with self._writer() as conn:
            self._lock_appends(conn)
            impressions = [job.impression for job in jobs if job.impression is not None]
            if impressions:
                shown = [
                    (r.recommendation_id, r.user_id, float(r.timestamp), r.to_json()) for r in impressions
                ]
                if self.backend == "sqlite":
                    # the driver's executemany on a fixed statement: no construct built and compiled
                    # per commit (a third of an impression commit's CPU)
                    conn.exec_driver_sql(_SQLITE_INSERT_IMPRESSIONS, shown)
                else:
                    conn.execute(
                        _PG_INSERT_IMPRESSIONS,
                        [dict(zip(_IMPRESSION_COLUMNS, r, strict=True)) for r in shown],
                    )
            event_jobs = [j for j, job in enumerate(jobs) if job.impression is None]
            if not event_jobs:
                return outcomes
            item_index = self._item_indices(conn, {ev.item_id for j in event_jobs for ev in jobs[j].events})
            valid: list[int] = []
            for j in event_jobs:
                unknown = next((ev for ev in jobs[j].events if ev.item_id not in item_index), None)
                if unknown is None:
                    valid.append(j)
                else:
                    outcomes[j] = DataError(
                        f"event {unknown.event_id!r}: item_id {unknown.item_id!r} is not in the catalogue"
                    )
            slots = self._slots(
                conn,
                {
                    ev.recommendation_id
                    for j in valid
                    for ev in jobs[j].events
                    if ev.recommendation_id is not None
                },
            )
            rows: list[tuple[Any, ...]] = []  # in _EVENT_COLUMNS order
            owner: dict[str, EventIn] = {}  # event_id -> the occurrence that may be stored
            for j in valid:
                for ev in jobs[j].events:
                    if ev.event_id in owner:
                        continue
                    owner[ev.event_id] = ev
                    rec_id = ev.recommendation_id
                    position = None if rec_id is None else slots.get(rec_id, {}).get(ev.item_id)
                    rows.append((
                        ev.event_id, ev.user_id, ev.item_id, item_index[ev.item_id], ev.type,
                        float(ev.value), float(ev.timestamp), rec_id, position, position is not None, now,
                    ))  # fmt: skip
            inserted = self._insert_events(conn, rows) if rows else set()
        for j in valid:
            accepted: list[str] = []
            duplicates: list[str] = []
            unattributed: list[str] = []
            for ev in jobs[j].events:
                if owner[ev.event_id] is ev and ev.event_id in inserted:
                    accepted.append(ev.event_id)
                    if ev.recommendation_id is not None and ev.item_id not in slots.get(
                        ev.recommendation_id, {}
                    ):
                        unattributed.append(ev.event_id)
                else:
                    duplicates.append(ev.event_id)
            outcomes[j] = AppendResult(tuple(accepted), tuple(duplicates), tuple(unattributed))
        return outcomes

    def _insert_events(self, conn: Connection, rows: list[tuple[Any, ...]]) -> set[str]:
        """``INSERT ... ON CONFLICT (event_id) DO NOTHING``; the event ids actually inserted."""
        if self.backend == "postgresql":
            # One statement with one array per column: psycopg would otherwise parse a multi-row
            # VALUES statement of 11 parameters per event anew for every batch (~0.3 s per 1,000).
            columns = zip(*rows, strict=True)
            arrays = {name: list(values) for (name, _), values in zip(_EVENT_COLUMNS, columns, strict=True)}
            return set(conn.execute(_PG_INSERT_EVENTS, arrays).scalars().all())
        # SQLite: this transaction holds the database's write lock (BEGIN IMMEDIATE), so the ids
        # found here cannot change before the insert; a plain executemany on the driver is then
        # exact and skips SQLAlchemy's per-row parameter processing (half the time of a batch).
        stored: set[str] = set()
        for chunk in _chunks([row[0] for row in rows]):
            # placeholders written out: SQLAlchemy's expanding IN re-processes its types on every
            # call (a third of a single-event transaction's CPU)
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT event_id FROM events WHERE event_id IN ({marks})"
            stored.update(conn.exec_driver_sql(query, tuple(chunk)).scalars())
        fresh = [row for row in rows if row[0] not in stored]
        if fresh:
            conn.exec_driver_sql(_SQLITE_INSERT_EVENTS, fresh)
        return {row[0] for row in fresh}

    def _item_indices(self, conn: Connection, item_ids: Iterable[str]) -> dict[str, int]:
        cache = self._item_index
        wanted = set(item_ids)
        missing = sorted(i for i in wanted if i not in cache)
        for chunk in _chunks(missing):
            for ext, idx in conn.execute(select(Item.item_id, Item.index).where(Item.item_id.in_(chunk))):
                cache[ext] = int(idx)
        return {i: cache[i] for i in wanted if i in cache}

    def _slots(self, conn: Connection, recommendation_ids: set[str]) -> dict[str, dict[str, int]]:
        """``{recommendation_id: {item_id: position}}`` of the logged impressions among the ids."""
        slots: dict[str, dict[str, int]] = {}
        for chunk in _chunks(sorted(recommendation_ids)):
            stmt = select(Impression.recommendation_id, Impression.record).where(
                Impression.recommendation_id.in_(chunk)
            )
            for rec_id, raw in conn.execute(stmt):
                shown = json.loads(raw)["item_ids"]
                slots[rec_id] = {item_id: pos for pos, item_id in enumerate(shown)}
        return slots


# ---------------------------------------------------------------------- helpers
# one executemany for all the existing rows of an upsert (bind names must differ from column names)
_ITEM_FIELDS = ("text", "fields", "categories", "available", "deleted", "timestamp", "updated_at")
_UPDATE_ITEM = (
    update(Item)
    .where(Item.index == bindparam("b_index"))
    .values({name: bindparam(f"b_{name}") for name in _ITEM_FIELDS})
)
_UPDATE_USER = (
    update(User)
    .where(User.index == bindparam("b_index"))
    .values(fields=bindparam("b_fields"), updated_at=bindparam("b_updated_at"))
)
#: every column of an event, in the order ``_event_tuple`` reads them
_SELECT_EVENT_ROWS = (
    "SELECT seq, event_id, user_id, item_id, item, type, value, timestamp, recommendation_id, position, "
    "attributed, received_at FROM events "
)
_READ_EVENTS = text(_SELECT_EVENT_ROWS + "WHERE seq > :after ORDER BY seq LIMIT :limit")
_READ_QUOTING_EVENTS = text(
    _SELECT_EVENT_ROWS
    + "WHERE seq > :after AND seq <= :top AND recommendation_id IS NOT NULL ORDER BY seq LIMIT :limit"
)
_MAX_EVENT_SEQ = text("SELECT max(seq) FROM events")
#: the driver's own statements (its paramstyle): the columns of a ``HistoryEvent``
_SELECT_HISTORY = "SELECT seq, event_id, user_id, item_id, timestamp FROM events WHERE seq > "
_SQLITE_READ_HISTORY_EVENTS = _SELECT_HISTORY + "? ORDER BY seq LIMIT ?"
_PG_READ_HISTORY_EVENTS = _SELECT_HISTORY + "%s ORDER BY seq LIMIT %s"
_USER_INDEX = text("SELECT idx FROM users WHERE user_id = :user_id")
_LOOKUP_USER = text(
    "SELECT (SELECT idx FROM users WHERE user_id = :user_id), "
    "(SELECT next_value FROM counters WHERE name = 'items')"
)
#: the same two reads in the SQLite driver's own paramstyle (``Store._read_one``)
_SQLITE_LOOKUP_USER = (
    "SELECT (SELECT idx FROM users WHERE user_id = ?), (SELECT next_value FROM counters WHERE name = 'items')"
)
_SQLITE_USER_INDEX = "SELECT idx FROM users WHERE user_id = ?"
_EVENT_COLUMNS = (
    ("event_id", "text"), ("user_id", "text"), ("item_id", "text"), ("item", "int4"), ("type", "text"),
    ("value", "float8"), ("timestamp", "float8"), ("recommendation_id", "text"), ("position", "int4"),
    ("attributed", "bool"), ("received_at", "float8"),
)  # fmt: skip
_PG_INSERT_EVENTS = text(
    f"INSERT INTO events ({', '.join(name for name, _ in _EVENT_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'CAST(:{name} AS {kind}[])' for name, kind in _EVENT_COLUMNS)}) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
)
_SQLITE_INSERT_EVENTS = (
    f"INSERT INTO events ({', '.join(name for name, _ in _EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _EVENT_COLUMNS)}) ON CONFLICT (event_id) DO NOTHING"
)


_IMPRESSION_COLUMNS = ("recommendation_id", "user_id", "timestamp", "record")
_SQLITE_INSERT_IMPRESSIONS = (
    f"INSERT INTO impressions ({', '.join(_IMPRESSION_COLUMNS)}) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (recommendation_id) DO NOTHING"
)
_PG_INSERT_IMPRESSIONS = pg_dialect.insert(Impression).on_conflict_do_nothing(
    index_elements=["recommendation_id"]
)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, ``synchronous=FULL`` and our own BEGIN (IMMEDIATE for writes) on every connection."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # let SQLAlchemy's "begin" event, not pysqlite's implicit BEGIN, start transactions
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # an erased user's rows are overwritten with zeros, not left readable in free pages
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # a writer takes the write lock at BEGIN: a deferred transaction that reads and then writes
        # can fail with SQLITE_BUSY instead of waiting for the lock
        options = conn.get_execution_options()
        if options.get("explorec_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get("explorec_single"):  # one statement is atomic and its own snapshot
            conn.exec_driver_sql("BEGIN")


def _no_repeats(kind: str, ids: Sequence[str]) -> None:
    seen: set[str] = set()
    for j, value in enumerate(ids):
        if value in seen:
            raise DataError(f"{kind} {value!r} appears twice in one batch (again at position {j})")
        seen.add(value)


def _check_event(j: int, ev: EventIn) -> None:
    where = f"events[{j}]"
    _check_id("event_id", ev.event_id, where)
    where = f"event {ev.event_id!r}"
    _check_id("user_id", ev.user_id, where)
    _check_id("item_id", ev.item_id, where)
    if not isinstance(ev.type, str) or not ev.type or len(ev.type) > 64:
        raise DataError(
            f"{where}: type must be a non-empty string of at most 64 characters, got {ev.type!r:.80}"
        )
    if ev.recommendation_id is not None:
        _check_id("recommendation_id", ev.recommendation_id, where)
    for name in ("value", "timestamp"):
        value = getattr(ev, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise DataError(f"{where}: {name} must be a number, got {value!r}")


def _columns(table: type[Item] | type[User], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rename the ``index`` attribute to its column name ``idx`` for Core inserts."""
    return [{("idx" if k == "index" else k): v for k, v in row.items()} for row in rows]


def _item_row(m: Any) -> ItemRow:
    return ItemRow(
        index=int(m["idx"]),
        item_id=m["item_id"],
        text=m["text"],
        fields=dict(m["fields"]),
        categories=tuple(m["categories"]),
        available=bool(m["available"]),
        deleted=bool(m["deleted"]),
        timestamp=float(m["timestamp"]),
        created_at=float(m["created_at"]),
        updated_at=float(m["updated_at"]),
    )


def _event_row(m: Any) -> EventRow:
    return EventRow(
        seq=int(m["seq"]),
        event_id=m["event_id"],
        user_id=m["user_id"],
        item_id=m["item_id"],
        item=int(m["item"]),
        type=m["type"],
        value=float(m["value"]),
        timestamp=float(m["timestamp"]),
        recommendation_id=m["recommendation_id"],
        position=m["position"],
        attributed=bool(m["attributed"]),
        received_at=float(m["received_at"]),
    )


def _event_tuple(r: Any) -> EventRow:
    """An ``EventRow`` from a row of ``_READ_EVENTS`` (columns by position)."""
    return EventRow(
        seq=int(r[0]),
        event_id=r[1],
        user_id=r[2],
        item_id=r[3],
        item=int(r[4]),
        type=r[5],
        value=float(r[6]),
        timestamp=float(r[7]),
        recommendation_id=r[8],
        position=r[9],
        attributed=bool(r[10]),
        received_at=float(r[11]),
    )


def _key_row(m: Any) -> KeyRow:
    return KeyRow(
        key_id=m["key_id"],
        scope=m["scope"],
        name=m["name"],
        created_at=float(m["created_at"]),
        revoked=bool(m["revoked"]),
    )
