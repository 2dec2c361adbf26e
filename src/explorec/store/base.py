"""What goes into the service's store and what comes out: plain frozen dataclasses.

The store (:class:`explorec.store.Store`) speaks only these types, so the HTTP layer can build them
from its own validated schemas and the offline tools can read the log without any web framework.
External ids are strings of bounded length (:data:`MAX_ID_LENGTH`); the internal indices the store
assigns (``ItemRow.index``, ``UserRow.index``) are the row/column numbers the models use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from explorec.errors import ExploreCError

#: the longest external id (item, user, event, recommendation, key name) the store accepts
MAX_ID_LENGTH = 256

#: API key scopes, weakest first; a key of a scope may do what the scopes before it may do
SCOPES = ("read", "write", "admin")


class StoreUnavailable(ExploreCError, RuntimeError):
    """The database cannot be reached (or lost the connection) and nothing was committed.

    The HTTP layer answers 503; the caller may retry the same request, because writes are
    idempotent (events on ``event_id``, impressions on ``recommendation_id``).
    """


@dataclass(frozen=True)
class ItemIn:
    """An item as posted by a client (``POST /v1/items``)."""

    item_id: str
    text: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    available: bool = True
    timestamp: float = 0.0


@dataclass(frozen=True)
class ItemRow:
    """A stored item. ``index`` is assigned on first insertion and never changes or gets reused."""

    index: int
    item_id: str
    text: str
    fields: Mapping[str, Any]
    categories: tuple[str, ...]
    available: bool
    deleted: bool
    timestamp: float
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class UserIn:
    """A user profile as posted by a client (``POST /v1/users``)."""

    user_id: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UserRow:
    """A stored user profile with its internal index (never reused, even after deletion)."""

    index: int
    user_id: str
    fields: Mapping[str, Any]
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class EventIn:
    """One feedback event (``POST /v1/feedback``); ``event_id`` is the idempotency key."""

    event_id: str
    user_id: str
    item_id: str
    type: str
    value: float = 1.0
    timestamp: float = 0.0
    recommendation_id: str | None = None


@dataclass(frozen=True)
class EventRow:
    """A stored event.

    ``seq`` is a monotone cursor (commit order; gaps are possible) for incremental reading.
    ``attributed`` is True when ``recommendation_id`` names a logged impression that showed
    ``item_id``; ``position`` is then the 0-based slot it was shown in (else ``None``).
    """

    seq: int
    event_id: str
    user_id: str
    item_id: str
    item: int
    type: str
    value: float
    timestamp: float
    recommendation_id: str | None
    position: int | None
    attributed: bool
    received_at: float


#: ``(seq, event_id, user_id, item_id, timestamp)`` of a stored event, a plain tuple straight from the
#: database driver: what a served history needs (:meth:`Store.read_history_events`)
HistoryEvent = tuple[int, str, str, str, float]


@dataclass(frozen=True)
class AppendResult:
    """The answer of :meth:`Store.append_events`, committed before it is returned.

    ``accepted`` lists the event ids stored by this call, ``duplicates`` those that were already
    stored (or repeated earlier in the same call); both in input order. ``unattributed`` lists the
    accepted events that quoted a ``recommendation_id`` the store could not attribute to a shown slot.
    """

    accepted: tuple[str, ...]
    duplicates: tuple[str, ...]
    unattributed: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeyRow:
    """A stored API key (the secret itself is never stored, only its SHA-256)."""

    key_id: str
    scope: str
    name: str
    created_at: float
    revoked: bool = False
