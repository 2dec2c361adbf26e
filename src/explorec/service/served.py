"""The served state of one process: catalogue, item vectors, retrieval index, recent user histories.

Everything here is derived from the store and can be rebuilt from it at any time (the process is
stateless apart from the store): at start-up :meth:`ServedState.load` reads every item and event,
and :meth:`ServedState.sync` reads what other replicas wrote since (items after the last served
index, events after the last ``seq``). Writes that arrive through this process are applied at once,
after the store committed them, so that a new item is recommendable in the very next request.

The model is :class:`ServedTextModel`, the zero-shot text recommender (``textknn``): its only learned
state is the item vectors, so a new item is "fitted" the moment its text is embedded. Above
``faiss_min_items`` items (``index="auto"``) its score stage retrieves candidates from a FAISS index
instead of scoring every item, then rescores the retrieved items exactly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.data.interactions import Interactions
from explorec.encoders import Encoder, l2_normalize, make_encoder
from explorec.index import Index, make_index
from explorec.models.base import Recommender
from explorec.models.textknn import TextKNN
from explorec.service.settings import ServiceSettings

logger = logging.getLogger(__name__)

#: the model name written into impressions (with the encoder and the catalogue revision)
MODEL_NAME = "textknn"
#: textknn's recency decay of the served profiles (weight ratio of an event to the next newer one)
DECAY = 0.8


class ServedTextModel(TextKNN):
    """``textknn`` over the served catalogue, optionally retrieving candidates from an index.

    Built with :meth:`over` from the served vectors (textknn learns nothing from interactions,
    so its fitted state *is* the item vectors; :meth:`fit` works as for ``TextKNN``).

    Parameters
    ----------
    retrieve : int, optional
        With an index, how many items the index returns per user; the others score ``-inf``.
        None scores every item exactly (one BLAS product).
    """

    name = "textknn-served"

    blocked_: npt.NDArray[np.int64]
    query_: npt.NDArray[np.float32] | None
    index_: Index | None
    index_lock_: threading.Lock
    retrieve_: int | None

    @classmethod
    def over(
        cls,
        vectors: npt.NDArray[np.float32],
        *,
        encoder: str,
        blocked: npt.NDArray[np.int64],
        index: Index | None = None,
        index_lock: threading.Lock | None = None,
        retrieve: int | None = None,
        decay: float = DECAY,
        max_history: int = 50,
    ) -> ServedTextModel:
        """The model over ``vectors`` (float32[n_items, dim]); ``blocked`` items always score ``-inf``."""
        model = cls(encoder=encoder, decay=decay, max_history=max_history)
        model.item_vectors_ = vectors
        model.n_items_ = int(vectors.shape[0])
        model.n_users_ = 1
        model._weights_cache = None
        model.blocked_ = blocked
        model.index_ = index
        model.index_lock_ = index_lock or threading.Lock()
        model.retrieve_ = retrieve
        model.query_ = None
        return model

    @classmethod
    def over_candidates(
        cls, vectors: npt.NDArray[np.float32], query: npt.NDArray[np.float32], *, encoder: str
    ) -> ServedTextModel:
        """The model restricted to retrieved candidates (rows of ``vectors``), for one user's ``query``.

        Its scores are ``vectors @ query``: the same as the full model's for these items, because the
        query (the user's text profile) was computed over the whole catalogue.
        """
        model = cls.over(vectors, encoder=encoder, blocked=np.zeros(0, dtype=np.int64))
        model.query_ = np.asarray(query, dtype=np.float32).reshape(1, -1)
        return model

    def _score(self, users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.float32]:
        fixed = getattr(self, "query_", None)
        if fixed is not None:
            return np.repeat(fixed @ self.item_vectors_.T, users.size, axis=0).astype(np.float32)  # [B, n]
        q = self.user_vectors(users, history)  # [B, dim]
        index = getattr(self, "index_", None)
        retrieve = getattr(self, "retrieve_", None)
        if index is None or retrieve is None:
            scores = (q @ self.item_vectors_.T).astype(np.float32)  # [B, n_items]
        else:
            with self.index_lock_:
                found, _ = index.search(q, retrieve)  # [B, retrieve]
            scores = np.full((q.shape[0], self.n_items_), -np.inf, dtype=np.float32)
            for row in range(q.shape[0]):
                items = found[row][(found[row] >= 0) & (found[row] < self.n_items_)]
                # rescored from the served vectors: an updated item's index entry may be stale
                scores[row, items] = self.item_vectors_[items] @ q[row]
        blocked = getattr(self, "blocked_", None)
        if blocked is not None and blocked.size:
            scores[:, blocked] = -np.inf
        return scores


class RegistryServedModel(ServedTextModel):
    """A registry version's trained model over the served catalogue (exact scoring).

    The trained model knows the store's first ``trained.n_items_`` items (its item column ``j`` is
    the store's item index ``j``); it scores them from the user's served history. Items that arrived
    after its training score ``-inf`` here (they still reach users through the fallback stages); the
    item vectors stay the catalogue's text vectors, for the re-rankers.
    """

    name = "registry-served"

    trained_: Recommender

    @classmethod
    def around(cls, base: ServedTextModel, trained: Recommender) -> RegistryServedModel:
        model = cls(encoder=base.encoder, decay=base.decay, max_history=base.max_history)
        model.__dict__.update(base.__dict__)  # the served vectors, blocked items, index of ``base``
        model.trained_ = trained
        return model

    def _score(self, users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.float32]:
        known = int(self.trained_.n_items_)
        n = self.n_items_
        inside = history.item < known
        hist = Interactions(
            history.user[inside],
            history.item[inside],
            history.timestamp[inside],
            history.weight[inside],
            history.user_ids,
            history.item_ids[:known],
        )
        scores = np.full((users.size, n), -np.inf, dtype=np.float32)
        width = min(known, n)
        if hist.item.size:
            scores[:, :width] = self.trained_.score(users, history=hist)[:, :width]
        blocked = self.blocked_
        if blocked.size:
            scores[:, blocked] = -np.inf
        return scores


@dataclass(frozen=True)
class ServedItem:
    """What the served state needs of an item (the fields of the store's ``ItemRow`` it reads)."""

    index: int
    item_id: str
    text: str
    categories: tuple[str, ...]
    available: bool
    deleted: bool
    timestamp: float


class _Growing:
    """A row buffer that doubles its capacity, so that appending rows is amortised O(rows)."""

    def __init__(self, width: int | None, dtype: Any) -> None:
        shape = (1024, width) if width else (1024,)
        self._buf = np.zeros(shape, dtype=dtype)
        self.n = 0

    def extend(self, rows: npt.ArrayLike) -> None:
        arr = np.asarray(rows, dtype=self._buf.dtype)
        need = self.n + arr.shape[0]
        if need > self._buf.shape[0]:
            cap = max(need, 2 * self._buf.shape[0])
            grown = np.zeros((cap, *self._buf.shape[1:]), dtype=self._buf.dtype)
            grown[: self.n] = self._buf[: self.n]
            self._buf = grown
        self._buf[self.n : need] = arr
        self.n = need

    def view(self) -> np.ndarray:
        return self._buf[: self.n]


class ServedState:
    """Catalogue, vectors, index and recent histories served by one process; thread-safe."""

    def __init__(self, settings: ServiceSettings, encoder: Encoder | None = None) -> None:
        self.settings = settings
        self.encoder = encoder if encoder is not None else _cached(make_encoder(settings.encoder))
        dim = self.encoder.dim
        self._lock = threading.RLock()
        self._index_lock = threading.Lock()
        self._catch_up_lock = threading.Lock()
        self.vectors = _Growing(dim, np.float32)
        self.item_ids = _Growing(None, object)
        self.timestamps = _Growing(None, np.float64)
        self.popularity = _Growing(None, np.float64)
        self.item_index: dict[str, int] = {}
        self.categories: dict[int, tuple[str, ...]] = {}
        self._digests: dict[int, int] = {}
        self.category_items: dict[str, set[int]] = {}
        self.blocked: set[int] = set()
        self._blocked_arr = np.zeros(0, dtype=np.int64)
        self.index: Index | None = None
        self.index_backend = "exact"
        self.histories: dict[str, deque[tuple[int, float]]] = {}
        self.user_counts: dict[str, Counter[int]] = {}
        self.item_users: dict[int, deque[str]] = {}
        self.user_index: dict[str, int] = {}
        self.event_seq = 0
        self._local_events: set[str] = set()
        # events a request of this process is storing (see expect_local_events), and the rows of
        # them the refresher read before the request settled them
        self._pending_events: dict[str, int] = {}
        self._deferred_events: dict[str, tuple[str, str, float]] = {}  # (user_id, item_id, timestamp)
        self.revision = 0
        self._ranked: dict[str, tuple[float, npt.NDArray[np.int64]]] = {}
        self.loaded = False
        #: the registry version served (issue 13), replaced whole by :meth:`swap_version`; a request
        #: reads it once (:meth:`served_version`) and uses that object for its whole slate
        self._version: Any = None

    # ------------------------------------------------------------------ facts
    @property
    def n_items(self) -> int:
        return self.vectors.n

    @property
    def model_version(self) -> str:
        """The text model's label (what :meth:`model` without a registry version scores with)."""
        return f"{MODEL_NAME}:{self.encoder.model_id}@r{self.revision}"

    def item_id_array(self) -> npt.NDArray[np.object_]:
        return self.item_ids.view()

    def is_servable(self, item: int) -> bool:
        return 0 <= item < self.n_items and item not in self.blocked

    # ------------------------------------------------------------------ loading and syncing
    def load(self, store: Any) -> None:
        """Read every item and event from the store (start-up)."""
        rows = store.items(after_index=-1)
        self.apply_items(rows, self.embed([row.text for row in rows], progress=True) if rows else None)
        self.sync_events(store, limit=None)
        self.loaded = True
        logger.info(
            "served state: %d items (%s index), %d users with history, events up to seq %d",
            self.n_items,
            self.index_backend,
            len(self.histories),
            self.event_seq,
        )

    def sync(self, store: Any) -> None:
        """Apply what other replicas wrote since the last sync."""
        self.catch_up_items(store)
        self.sync_events(store, limit=10_000)

    def catch_up_items(self, store: Any) -> int:
        """Serve the items the store holds beyond this process's (written by other workers or
        replicas since the last sync); returns how many were new. One caller reads at a time, the
        others wait and find nothing left to read."""
        with self._catch_up_lock:
            return self.apply_items(store.items(after_index=self.n_items - 1))

    def reload_catalogue(self, store: Any) -> None:
        """Re-read every item: flags and categories changed by other replicas (deletions, availability)
        are applied, and items whose text changed are embedded again."""
        rows = store.items(after_index=-1)
        known = self.n_items
        existing = [r for r in rows if int(r.index) < known]
        changed = [r for r in existing if self._digests.get(int(r.index)) != hash(r.text)]
        vectors = self.embed([r.text for r in changed])
        with self._lock:
            for row, vec in zip(changed, vectors, strict=True):
                self._update_item(int(row.index), row, vec)
            for row in existing:
                self._set_meta(int(row.index), row)
            self._refresh_blocked()
            self.revision += 1
        self.apply_items([r for r in rows if int(r.index) >= known])

    def sync_events(self, store: Any, *, limit: int | None) -> None:
        while True:
            rows = store.read_history_events(after=self.event_seq, limit=limit)
            if not rows:
                return
            with self._lock:
                local, pending = self._local_events, self._pending_events
                for _seq, event_id, user_id, item_id, timestamp in rows:
                    if event_id in local:
                        local.discard(event_id)
                        continue
                    if event_id in pending:
                        # committed by a request that has not applied it yet: it applies it
                        self._deferred_events[event_id] = (user_id, item_id, timestamp)
                        continue
                    self._apply_event(user_id, item_id, float(timestamp))
                self.event_seq = max(self.event_seq, int(rows[-1][0]))  # rows come in seq order
            if limit is None or len(rows) < limit:
                return

    # ------------------------------------------------------------------ items
    def apply_written(self, store: Any, rows: Sequence[Any], vectors: npt.NDArray[np.float32]) -> None:
        """Serve items this process just wrote; items other replicas wrote before them are read first.

        The store hands out indices in commit order, so a replica that has not yet synced another
        replica's items sees a gap before its own new indices; the gap is read from the store.
        """
        with self._lock:
            first_new = min((int(r.index) for r in rows if int(r.index) >= self.n_items), default=None)
            if first_new is not None and first_new > self.n_items:
                missing = [r for r in store.items(after_index=self.n_items - 1) if int(r.index) < first_new]
                self.apply_items(missing)
            self.apply_items(rows, vectors)

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> npt.NDArray[np.float32]:
        """Unit text vectors; ``progress``: a bar on a terminal (the start-up load of the catalogue)."""
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return l2_normalize(self.encoder.encode(list(texts), progress=progress))

    def apply_items(self, rows: Sequence[Any], vectors: npt.NDArray[np.float32] | None = None) -> int:
        """Serve store ``ItemRow``s (new or updated); returns how many were new to this process.

        ``vectors`` (float32[len(rows), dim]) are the rows' text vectors when already computed.
        """
        if not rows:
            return 0
        if vectors is None:
            vectors = self.embed([row.text for row in rows])
        created = 0
        with self._lock:
            new_rows: list[Any] = []
            new_vecs: list[npt.NDArray[np.float32]] = []
            for row, vec in zip(rows, vectors, strict=True):
                index = int(row.index)
                if index < self.n_items + len(new_rows):
                    if index >= self.n_items:
                        continue  # the same new item twice in one batch: the first one counts
                    self._update_item(index, row, vec)
                    continue
                if index != self.n_items + len(new_rows):
                    raise RuntimeError(
                        f"store item index {index} for {row.item_id!r} skips ahead of the "
                        f"{self.n_items + len(new_rows)} served items"
                    )
                new_rows.append(row)
                new_vecs.append(vec)
            if new_rows:
                start = self.n_items
                block = np.asarray(new_vecs, dtype=np.float32)
                self.vectors.extend(block)
                self.item_ids.extend(np.array([r.item_id for r in new_rows], dtype=object))
                self.timestamps.extend([float(r.timestamp) for r in new_rows])
                self.popularity.extend(np.zeros(len(new_rows)))
                for offset, row in enumerate(new_rows):
                    self.item_index[row.item_id] = start + offset
                    self._digests[start + offset] = hash(row.text)
                    self._set_meta(start + offset, row)
                self._grow_index(block)
                created = len(new_rows)
            self._refresh_blocked()
            self.revision += 1
        return created

    def _update_item(self, index: int, row: Any, vec: npt.NDArray[np.float32]) -> None:
        self.vectors.view()[index] = vec
        self._digests[index] = hash(row.text)
        self.timestamps.view()[index] = float(row.timestamp)
        if self.index is not None and index < self.index.n_items:
            with self._index_lock:
                self.index.update([index], vec[None, :])  # FAISS: old entry dropped, new one added
        self._set_meta(index, row)

    def _set_meta(self, index: int, row: Any) -> None:
        old = self.categories.get(index, ())
        for c in old:
            self.category_items.get(c, set()).discard(index)
        cats = tuple(row.categories)
        self.categories[index] = cats
        for c in cats:
            self.category_items.setdefault(c, set()).add(index)
        if getattr(row, "deleted", False) or not getattr(row, "available", True):
            self.blocked.add(index)
        else:
            self.blocked.discard(index)

    def delete_item(self, item_id: str) -> None:
        with self._lock:
            index = self.item_index.get(item_id)
            if index is not None:
                self.blocked.add(index)
                self._refresh_blocked()
                self.revision += 1

    def _refresh_blocked(self) -> None:
        self._blocked_arr = np.array(sorted(self.blocked), dtype=np.int64)
        self._ranked.clear()

    def _grow_index(self, block: npt.NDArray[np.float32]) -> None:
        s = self.settings
        use_faiss = s.index == "faiss" or (s.index == "auto" and self.n_items >= s.faiss_min_items)
        with self._index_lock:
            if self.index is not None and self.index_backend.startswith("faiss") == use_faiss:
                self.index.add(block)
                return
            vectors = self.vectors.view()
            if use_faiss:
                options: dict[str, Any] = {"kind": s.faiss_kind}
                if s.faiss_kind.startswith("hnsw"):
                    options["ef_search"] = s.faiss_ef_search
                elif s.faiss_kind.startswith("ivf"):
                    options["nprobe"] = s.faiss_nprobe
                if s.faiss_kind == "ivf-pq":
                    options["pq_m"] = s.faiss_pq_m
                self.index = make_index(vectors, "faiss", **options)
                self.index_backend = f"faiss-{s.faiss_kind}"
            else:
                self.index = make_index(vectors.copy(), "exact")
                self.index_backend = "exact"
            logger.info("retrieval index: %s over %d items", self.index_backend, self.n_items)

    # ------------------------------------------------------------------ events and users
    def expect_local_events(self, event_ids: Sequence[str]) -> None:
        """Before this process stores ``event_ids``: until :meth:`apply_local_events` settles them,
        the refresher defers those it reads instead of applying them, so that an event committed
        and read back before its request applied it is applied once, not twice."""
        with self._lock:
            for event_id in event_ids:
                self._pending_events[event_id] = self._pending_events.get(event_id, 0) + 1

    def apply_local_events(
        self, events: Sequence[tuple[str, str, str, float]], expected: Sequence[str] = ()
    ) -> None:
        """Events this process just stored: ``(event_id, user_id, item_id, timestamp)``.

        ``expected``: the ids given to :meth:`expect_local_events` before the store call (stored or
        not); a row of one of them that the refresher deferred and that this call did not store
        (another replica's, a replay) is applied now.
        """
        with self._lock:
            stored = set()
            for event_id, user_id, item_id, timestamp in events:
                stored.add(event_id)
                if self._deferred_events.pop(event_id, None) is None:
                    self._local_events.add(event_id)  # read back later by the refresher: skipped then
                self._apply_event(user_id, item_id, timestamp)
            for event_id in expected:
                left = self._pending_events.get(event_id, 0) - 1
                if left > 0:
                    self._pending_events[event_id] = left
                    continue
                self._pending_events.pop(event_id, None)
                row = self._deferred_events.pop(event_id, None)
                if row is not None and event_id not in stored:
                    self._apply_event(row[0], row[1], float(row[2]))

    def _apply_event(self, user_id: str, item_id: str, timestamp: float) -> None:
        item = self.item_index.get(item_id)
        if item is None:
            return
        history = self.histories.get(user_id)
        if history is None:
            history = self.histories[user_id] = deque(maxlen=self.settings.history_length)
        history.append((item, timestamp))
        counts = self.user_counts.get(user_id)
        if counts is None:  # not setdefault: a Counter built per event costs more than the rest
            counts = self.user_counts[user_id] = Counter()
        counts[item] += 1
        users = self.item_users.get(item)
        if users is None:
            users = self.item_users[item] = deque(maxlen=200)
        users.append(user_id)
        self.popularity.view()[item] += 1.0

    def forget_user(self, user_id: str) -> None:
        """Remove the user's events from the served state (the store deleted them)."""
        with self._lock:
            self.histories.pop(user_id, None)
            self.user_index.pop(user_id, None)
            counts = self.user_counts.pop(user_id, Counter())
            pop = self.popularity.view()
            for item, count in counts.items():
                pop[item] = max(0.0, pop[item] - count)
                users = self.item_users.get(item)
                if users is not None:
                    self.item_users[item] = deque((u for u in users if u != user_id), maxlen=200)
            self._ranked.clear()

    def forget_user_hashes(self, hashes: Sequence[str]) -> int:
        """Forget every user whose id's SHA-256 is in ``hashes`` (users erased through another replica,
        read from the store's erasure log); returns how many were forgotten here."""
        import hashlib

        wanted = set(hashes)
        with self._lock:
            users = [
                u
                for u in set(self.histories) | set(self.user_counts)
                if hashlib.sha256(u.encode()).hexdigest() in wanted
            ]
        for user_id in users:
            self.forget_user(user_id)
        return len(users)

    def history(self, user_id: str) -> list[tuple[int, float]]:
        with self._lock:
            return list(self.histories.get(user_id, ()))

    # ------------------------------------------------------------------ registry versions (issue 13)
    def swap_version(self, version: Any) -> None:
        """Serve ``version`` (a complete, loaded :class:`~explorec.online.registry.LoadedVersion`).

        One reference assignment: a request that read the previous version finishes on it, the next
        one reads the new one; no request sees a version that is still loading.
        """
        self._version = version

    def served_version(self) -> Any:
        """The registry version serving now (None: the text model), read once per request."""
        return None if self.retrieves else self._version

    def version_label(self, version: Any) -> str:
        """The ``model_version`` of a slate built with ``version`` (from :meth:`served_version`)."""
        return self.model_version if version is None else str(version.name)

    # ------------------------------------------------------------------ views for one request
    def model(self, version: Any = None) -> ServedTextModel:
        """The model over the current catalogue (a new, cheap object: serving never mutates one).

        With a registry ``version``, its trained model scores the items it knows.
        """
        if version is not None:
            return RegistryServedModel.around(self.model(), version.model)
        with self._lock:
            n = self.n_items
            retrieve = None
            if self.index_backend != "exact":
                retrieve = min(n, 2 * self.settings.n_candidates + self.settings.history_length)
            return ServedTextModel.over(
                self.vectors.view(),
                encoder=self.settings.encoder,
                blocked=self._blocked_arr,
                index=self.index,
                index_lock=self._index_lock,
                retrieve=retrieve,
                max_history=self.settings.history_length,
            )

    @property
    def retrieves(self) -> bool:
        """True when the score stage retrieves candidates from FAISS instead of scoring every item."""
        return self.index_backend != "exact"

    def candidate_space(
        self, user_id: str, history: Sequence[tuple[int, float]], excluded: set[int]
    ) -> tuple[npt.NDArray[np.int64], ServedTextModel, Interactions]:
        """The retrieved candidates of a user, the model over them, and the history mapped into them.

        The pipeline then runs over ``len(candidates)`` columns instead of the whole catalogue; slate
        item ``j`` is catalogue item ``candidates[j]``.
        """
        if self.index is None:
            raise RuntimeError("candidate_space needs a retrieval index")
        # vectorised over the history's (item, time) pairs: textknn's formula (recency weights
        # decay^(steps from the latest event) over the last max_history events, repeats adding up)
        # without building a model or a sparse matrix per request
        hist_items = np.fromiter((i for i, _ in history), dtype=np.int64, count=len(history))
        hist_times = np.fromiter((t for _, t in history), dtype=np.float64, count=len(history))
        order = np.lexsort((np.arange(hist_items.size), hist_times))  # by time, ties in arrival order
        from_end = hist_items.size - 1 - np.arange(hist_items.size)
        keep = from_end < self.settings.history_length
        own, inverse = np.unique(hist_items[order][keep], return_inverse=True)
        weights = np.bincount(inverse, weights=DECAY ** from_end[keep], minlength=own.size).astype(np.float32)
        vectors = self.vectors.view()
        query = l2_normalize(weights[None, :] @ vectors[own])  # [1, dim]
        retrieve = min(self.n_items, 2 * self.settings.n_candidates + self.settings.history_length)
        blocked = self._blocked_arr
        drop = np.fromiter(excluded, dtype=np.int64, count=len(excluded))
        if blocked.size:
            drop = np.union1d(drop, blocked)
        with self._index_lock:
            found, _ = self.index.search(query, min(self.n_items, retrieve + drop.size))
        row = found[0]
        # (np.isin costs tens of microseconds even on empty input: skip it when nothing is dropped)
        row = row[(row >= 0) & ~np.isin(row, drop)] if drop.size else row[row >= 0]
        # the user's seen items stay in the space so that exclude_seen=False can show them again
        seen = own[~np.isin(own, drop)] if drop.size else own
        cands = np.concatenate([row, seen[~np.isin(seen, row)]]).astype(np.int64)
        sorter = np.argsort(cands, kind="stable")
        at = np.searchsorted(cands, hist_items, sorter=sorter)
        if cands.size:
            inside = cands[sorter[np.minimum(at, cands.size - 1)]] == hist_items
        else:
            inside = np.zeros(hist_items.size, dtype=bool)
        sub_hist = Interactions(
            np.zeros(int(inside.sum()), dtype=np.int64),
            sorter[at[inside]].astype(np.int64),
            hist_times[inside],
            np.ones(int(inside.sum()), dtype=np.float32),
            np.array([user_id], dtype=object),
            self.item_ids.view()[cands],
        )
        model = ServedTextModel.over_candidates(vectors[cands], query[0], encoder=self.settings.encoder)
        return cands, model, sub_hist

    def user_interactions(self, user_id: str, history: Sequence[tuple[int, float]]) -> Interactions:
        """``history`` as Interactions over a one-user vocabulary and the served item vocabulary."""
        items = np.array([h[0] for h in history], dtype=np.int64)
        times = np.array([h[1] for h in history], dtype=np.float64)
        return Interactions(
            np.zeros(items.size, dtype=np.int64),
            items,
            times,
            np.ones(items.size, dtype=np.float32),
            np.array([user_id], dtype=object),
            self.item_ids.view(),
        )

    def blocked_items(self) -> npt.NDArray[np.int64]:
        return self._blocked_arr

    def servable_items(self, category: str | None = None) -> npt.NDArray[np.int64]:
        """Servable item indices (of ``category`` when given), ascending."""
        with self._lock:
            if category is None:
                items = np.arange(self.n_items, dtype=np.int64)
            else:
                items = np.array(sorted(self.category_items.get(category, set())), dtype=np.int64)
            blocked = self._blocked_arr
        if blocked.size and items.size:
            items = items[~np.isin(items, blocked)]
        return items

    def outside_category(self, category: str) -> npt.NDArray[np.int64]:
        with self._lock:
            inside = np.fromiter(self.category_items.get(category, set()), dtype=np.int64)
            mask = np.ones(self.n_items, dtype=bool)
            mask[inside] = False
            return np.flatnonzero(mask).astype(np.int64)

    def ranked(self, kind: str, limit: int = 2000) -> npt.NDArray[np.int64]:
        """Servable items by ``"popular"`` (event count) or ``"newest"`` (timestamp), best first.

        Cached for one second (popularity moves with every event; a second-old order is fine).
        """
        now = time.monotonic()
        cached = self._ranked.get(kind)
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        with self._lock:
            values = (self.popularity if kind == "popular" else self.timestamps).view().copy()
            if self._blocked_arr.size:
                values[self._blocked_arr] = -np.inf
            if kind == "popular":
                values[values <= 0] = -np.inf  # never-interacted items are not "popular"
        n = min(limit, values.size)
        if n == 0:
            order = np.zeros(0, dtype=np.int64)
        else:
            part = np.argpartition(-values, n - 1)[:n] if n < values.size else np.arange(values.size)
            part = part[np.lexsort((part, -values[part]))]
            order = part[np.isfinite(values[part])].astype(np.int64)
        self._ranked[kind] = (now, order)
        return order

    def neighbours(
        self, queries: npt.NDArray[np.float32], k: int, exclude: Sequence[int] = ()
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The ``k`` servable items most similar to the mean of ``queries`` (rows of item vectors)."""
        if self.index is None or self.n_items == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = l2_normalize(queries.mean(axis=0, keepdims=True))
        want = min(self.n_items, k + len(exclude) + self._blocked_arr.size)
        with self._index_lock:
            items, scores = self.index.search(q, want)
        drop = set(exclude) | self.blocked
        keep = [
            (int(i), float(s)) for i, s in zip(items[0], scores[0], strict=True) if i >= 0 and i not in drop
        ]
        keep = keep[:k]
        return np.array([i for i, _ in keep], dtype=np.int64), np.array(
            [s for _, s in keep], dtype=np.float32
        )

    def collaborative(self, item: int, k: int) -> list[tuple[int, float]]:
        """Items most often in the recent histories of ``item``'s users (cosine of co-occurrence)."""
        with self._lock:
            users = list(dict.fromkeys(self.item_users.get(item, ())))
            together: Counter[int] = Counter()
            for user in users:
                together.update({i for i, _ in self.histories.get(user, ())})
            together.pop(item, None)
            pop = self.popularity.view()
            base = max(pop[item], 1.0)
            ranked = [
                (other, count / float(np.sqrt(base * max(pop[other], 1.0))))
                for other, count in together.items()
                if other not in self.blocked
            ]
        ranked.sort(key=lambda pair: (-pair[1], pair[0]))
        return ranked[:k]


def _cached(encoder: Encoder) -> Encoder:
    """The encoder behind the embedding cache when caching pays (not for the hashing encoder)."""
    if not encoder.cacheable:
        return encoder
    from explorec.encoders import CachedEncoder

    return CachedEncoder(encoder)
