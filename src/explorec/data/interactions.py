"""The data model: ``Interactions``, ``Catalog``, ``Dataset`` and ``Split``.

Every component inside explorec works on dense internal indices. An ``Interactions`` object holds
one row per (user, item, time) event and the vocabularies that map internal indices back to external
ids. Several ``Interactions`` (the parts of a split, say) share the same vocabularies so that a
model trained on one part can be evaluated on another without re-indexing.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from explorec.errors import ConfigError, DataError, UnknownIdError


def _as_ids(values: Sequence[Any] | np.ndarray) -> npt.NDArray[np.object_]:
    arr = np.empty(len(values), dtype=object)
    arr[:] = [str(v) for v in values]
    return arr


@dataclass(frozen=True, eq=False)
class Interactions:
    """User-item events over fixed user and item vocabularies.

    Attributes
    ----------
    user, item : int64[n]
        Internal indices into ``user_ids`` / ``item_ids``.
    timestamp : float64[n]
        Event time (unix seconds), or the event's position in the user's sequence when the source has
        no clock (``has_timestamps`` is then False); order is what every split relies on.
    weight : float32[n]
        Implicit-feedback strength (1 by default; play count or rating where the source has one).
    rating : float32[n] or None
        Explicit rating when the source has one.
    user_ids, item_ids : object[n_users], object[n_items]
        External ids, as strings.
    """

    user: npt.NDArray[np.int64]
    item: npt.NDArray[np.int64]
    timestamp: npt.NDArray[np.float64]
    weight: npt.NDArray[np.float32]
    user_ids: npt.NDArray[np.object_]
    item_ids: npt.NDArray[np.object_]
    rating: npt.NDArray[np.float32] | None = None
    has_timestamps: bool = True
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        n = self.user.shape[0]
        for name in ("item", "timestamp", "weight"):
            if getattr(self, name).shape != (n,):
                raise DataError(f"Interactions.{name} has shape {getattr(self, name).shape}, expected ({n},)")
        if self.rating is not None and self.rating.shape != (n,):
            raise DataError(f"Interactions.rating has shape {self.rating.shape}, expected ({n},)")
        if n and (self.user.min() < 0 or self.user.max() >= len(self.user_ids)):
            raise DataError(f"user indices must lie in [0, {len(self.user_ids)})")
        if n and (self.item.min() < 0 or self.item.max() >= len(self.item_ids)):
            raise DataError(f"item indices must lie in [0, {len(self.item_ids)})")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        user: npt.ArrayLike,
        item: npt.ArrayLike,
        *,
        user_ids: Sequence[Any] | np.ndarray,
        item_ids: Sequence[Any] | np.ndarray,
        timestamp: npt.ArrayLike | None = None,
        weight: npt.ArrayLike | None = None,
        rating: npt.ArrayLike | None = None,
    ) -> Interactions:
        """Build from internal index arrays and the two vocabularies.

        When ``timestamp`` is None the row order is taken as time order (``has_timestamps=False``).
        """
        u = np.asarray(user, dtype=np.int64)
        i = np.asarray(item, dtype=np.int64)
        n = u.shape[0]
        has_ts = timestamp is not None
        ts = np.arange(n, dtype=np.float64) if timestamp is None else np.asarray(timestamp, dtype=np.float64)
        w = np.ones(n, dtype=np.float32) if weight is None else np.asarray(weight, dtype=np.float32)
        r = None if rating is None else np.asarray(rating, dtype=np.float32)
        return cls(u, i, ts, w, _as_ids(user_ids), _as_ids(item_ids), r, has_ts)

    @classmethod
    def from_ids(
        cls,
        user_id: Sequence[Any] | np.ndarray,
        item_id: Sequence[Any] | np.ndarray,
        *,
        timestamp: npt.ArrayLike | None = None,
        weight: npt.ArrayLike | None = None,
        rating: npt.ArrayLike | None = None,
        item_ids: Sequence[Any] | np.ndarray | None = None,
        user_ids: Sequence[Any] | np.ndarray | None = None,
    ) -> Interactions:
        """Build from external ids, creating vocabularies in order of first appearance.

        ``item_ids`` / ``user_ids`` fix the vocabularies up front (e.g. every catalogue item,
        including items nobody interacted with yet); ids outside a given vocabulary raise
        ``UnknownIdError``.
        """
        uid = _as_ids(user_id)
        iid = _as_ids(item_id)
        u, uvocab = _encode(uid, user_ids, "user_id")
        i, ivocab = _encode(iid, item_ids, "item_id")
        return cls.from_arrays(
            u, i, user_ids=uvocab, item_ids=ivocab, timestamp=timestamp, weight=weight, rating=rating
        )

    # ------------------------------------------------------------------ basic facts
    def __len__(self) -> int:
        return int(self.user.shape[0])

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __repr__(self) -> str:
        return (
            f"Interactions(n={len(self)}, n_users={self.n_users}, n_items={self.n_items}, "
            f"has_timestamps={self.has_timestamps}, rating={'yes' if self.rating is not None else 'no'})"
        )

    def same_vocabulary(self, other: Interactions) -> bool:
        return (self.user_ids is other.user_ids or np.array_equal(self.user_ids, other.user_ids)) and (
            self.item_ids is other.item_ids or np.array_equal(self.item_ids, other.item_ids)
        )

    # ------------------------------------------------------------------ id mapping
    def user_index(self, user_id: Sequence[Any] | np.ndarray) -> npt.NDArray[np.int64]:
        """Map external user ids to internal indices; unknown ids raise ``UnknownIdError``."""
        if not self._user_index:
            self._user_index.update({u: k for k, u in enumerate(self.user_ids)})
        return _lookup(self._user_index, user_id, "user_id")

    def item_index(self, item_id: Sequence[Any] | np.ndarray) -> npt.NDArray[np.int64]:
        """Map external item ids to internal indices; unknown ids raise ``UnknownIdError``."""
        if not self._item_index:
            self._item_index.update({u: k for k, u in enumerate(self.item_ids)})
        return _lookup(self._item_index, item_id, "item_id")

    # ------------------------------------------------------------------ views
    def select(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.int64]) -> Interactions:
        """Rows selected by a boolean mask or an index array, over the same vocabularies."""
        return Interactions(
            self.user[mask],
            self.item[mask],
            self.timestamp[mask],
            self.weight[mask],
            self.user_ids,
            self.item_ids,
            None if self.rating is None else self.rating[mask],
            self.has_timestamps,
            self._user_index,
            self._item_index,
        )

    def concat(self, other: Interactions) -> Interactions:
        """Rows of both (same vocabularies required), in this object's row order then ``other``'s."""
        if not self.same_vocabulary(other):
            raise DataError("cannot concatenate Interactions with different vocabularies")
        rating = None
        if self.rating is not None and other.rating is not None:
            rating = np.concatenate([self.rating, other.rating])
        return Interactions(
            np.concatenate([self.user, other.user]),
            np.concatenate([self.item, other.item]),
            np.concatenate([self.timestamp, other.timestamp]),
            np.concatenate([self.weight, other.weight]),
            self.user_ids,
            self.item_ids,
            rating,
            self.has_timestamps and other.has_timestamps,
            self._user_index,
            self._item_index,
        )

    def chronological_order(self) -> npt.NDArray[np.int64]:
        """Row order sorted by user, then time; ties keep their row order (stable)."""
        return np.lexsort((np.arange(len(self)), self.timestamp, self.user)).astype(np.int64)

    def sorted(self) -> Interactions:
        """Rows sorted by user, then time (stable)."""
        return self.select(self.chronological_order())

    def sequences(self) -> list[npt.NDArray[np.int64]]:
        """Each user's items in chronological order; ``result[u]`` is empty for inactive users."""
        order = self.chronological_order()
        users = self.user[order]
        items = self.item[order]
        bounds = np.searchsorted(users, np.arange(self.n_users + 1))
        return [items[bounds[u] : bounds[u + 1]] for u in range(self.n_users)]

    def to_csr(self, *, binary: bool = True) -> sp.csr_matrix:
        """Users x items matrix; duplicates are summed (or set to 1 when ``binary``)."""
        data = np.ones(len(self), dtype=np.float32) if binary else self.weight
        m = sp.csr_matrix(
            (data, (self.user, self.item)), shape=(self.n_users, self.n_items), dtype=np.float32
        )
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m

    def item_counts(self) -> npt.NDArray[np.int64]:
        """Number of events per item, float length ``n_items``."""
        return np.bincount(self.item, minlength=self.n_items).astype(np.int64)

    def user_counts(self) -> npt.NDArray[np.int64]:
        """Number of events per user, length ``n_users``."""
        return np.bincount(self.user, minlength=self.n_users).astype(np.int64)

    def active_users(self) -> npt.NDArray[np.int64]:
        """Users with at least one event, ascending."""
        return np.flatnonzero(self.user_counts() > 0).astype(np.int64)


def _encode(
    ids: npt.NDArray[np.object_], vocab: Sequence[Any] | np.ndarray | None, what: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.object_]]:
    if vocab is None:
        uniq, first, inverse = np.unique(ids.astype(str), return_index=True, return_inverse=True)
        # vocabulary in order of first appearance, which keeps loaders' ids in file order
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(uniq))
        return rank[inverse].astype(np.int64), _as_ids(uniq[np.argsort(first, kind="stable")])
    v = _as_ids(vocab)
    index = {x: k for k, x in enumerate(v)}
    return _lookup(index, ids, what), v


def _lookup(index: dict[str, int], ids: Sequence[Any] | np.ndarray, what: str) -> npt.NDArray[np.int64]:
    if isinstance(ids, str | bytes):  # iterating would look up each character ('U00001' -> 'U')
        raise ConfigError(f"{what}: expected a list of ids, got the single string {ids!r}; pass [{ids!r}]")
    out = np.empty(len(ids), dtype=np.int64)
    for k, x in enumerate(ids):
        try:
            out[k] = index[str(x)]
        except KeyError:
            examples = ", ".join(repr(k) for k in itertools.islice(index, 3))
            raise UnknownIdError(f"unknown {what} {x!r} ({len(index)} known, e.g. {examples})") from None
    return out


@dataclass(frozen=True, eq=False)
class Catalog:
    """Items with their text fields and attributes, aligned with an item vocabulary.

    Attributes
    ----------
    item_ids : object[n_items]
        External item ids, in internal-index order (same order as ``Interactions.item_ids``).
    fields : dict[str, object[n_items]]
        Text fields (``title``, ``description``, ``categories``, ``brand``, ``tags``, ``genres``, ...);
        missing values are empty strings.
    attributes : dict[str, ndarray[n_items]]
        Numeric or categorical attributes (e.g. ``year``, ``category`` ids, ``provider``).
    arrival : float64[n_items] or None
        When each item entered the catalogue (same clock as the interactions), when known.
    """

    item_ids: npt.NDArray[np.object_]
    fields: dict[str, npt.NDArray[np.object_]] = field(default_factory=dict)
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    arrival: npt.NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        for kind, table in (("field", self.fields), ("attribute", self.attributes)):
            for name, values in table.items():
                if len(values) != n:
                    raise DataError(f"catalog {kind} {name!r} has {len(values)} values for {n} items")
        if self.arrival is not None and len(self.arrival) != n:
            raise DataError(f"catalog arrival has {len(self.arrival)} values for {n} items")

    @classmethod
    def empty(cls, item_ids: Sequence[Any] | np.ndarray) -> Catalog:
        return cls(_as_ids(item_ids))

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def field(self, name: str) -> npt.NDArray[np.object_]:
        """One text field; items without it get empty strings."""
        if name in self.fields:
            return self.fields[name]
        return np.full(self.n_items, "", dtype=object)

    def __repr__(self) -> str:
        return (
            f"Catalog(n_items={self.n_items}, fields={sorted(self.fields)}, "
            f"attributes={sorted(self.attributes)})"
        )


@dataclass(frozen=True, eq=False)
class Split:
    """Train / validation / test parts over one vocabulary.

    ``cold_items`` lists the items held out of training entirely (cold-item splits).
    ``test_history`` is what a model may know about a test user at test time (train + valid by
    default): evaluation masks these items and sequential models read them as the user's history.
    ``report`` holds the splitter's own counters (users kept in train only, cold rows, cutoffs, ...);
    ``explorec.data.splits.describe`` merges it with ``summary()``.
    """

    train: Interactions
    valid: Interactions
    test: Interactions
    name: str = ""
    cold_items: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    report: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for part in ("valid", "test"):
            if not self.train.same_vocabulary(getattr(self, part)):
                raise DataError(f"split {self.name!r}: {part} and train use different vocabularies")

    @property
    def test_history(self) -> Interactions:
        return self.train.concat(self.valid)

    def summary(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "valid": len(self.valid),
            "test": len(self.test),
            "test_users": int(np.unique(self.test.user).size),
            "cold_items": int(self.cold_items.size),
        }


@dataclass(frozen=True, eq=False)
class Dataset:
    """What a loader returns: interactions, the catalogue, optional user features and a shipped split."""

    name: str
    interactions: Interactions
    catalog: Catalog
    user_features: dict[str, np.ndarray] = field(default_factory=dict)
    split: Split | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if not np.array_equal(self.interactions.item_ids, self.catalog.item_ids):
            raise DataError(f"dataset {self.name!r}: catalog and interactions item vocabularies differ")

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, {self.interactions!r}, {self.catalog!r}, split={self.split is not None})"
        )
