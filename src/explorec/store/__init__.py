"""The service's store: items, users, feedback events, impressions and API keys in SQL.

SQLite in WAL mode is the embedded default; PostgreSQL (psycopg 3) when the URL points at one.
One :class:`Store` serves both; the schema is created and upgraded by the Alembic migrations
shipped in ``explorec/store/migrations`` (:meth:`Store.migrate`).
"""

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
from explorec.store.sql import Store

__all__ = [
    "MAX_ID_LENGTH",
    "SCOPES",
    "AppendResult",
    "EventIn",
    "EventRow",
    "HistoryEvent",
    "ItemIn",
    "ItemRow",
    "KeyRow",
    "Store",
    "StoreUnavailable",
    "UserIn",
    "UserRow",
]
