"""Top-k retrieval with FAISS (flat, HNSW, IVF; float or compressed), behind ``ExactIndex``'s interface.

Johnson, Douze & Jégou, "Billion-scale similarity search with GPUs" (2017) for FAISS; Malkov &
Yashunin, "Efficient and robust approximate nearest neighbor search using Hierarchical Navigable
Small World graphs" (TPAMI 2018) for ``kind="hnsw"``; Jégou, Douze & Schmid, "Product quantization
for nearest neighbor search" (TPAMI 2011) for ``kind="ivf-pq"``. ``faiss`` is imported only when an
index is built, so ``import explorec.index`` stays light.

Compressed kinds store each item vector as codes instead of ``4 * dim`` float bytes:

==============  ==========================================  ==================================
kind            FAISS index                                 bytes per item (dim 384)
==============  ==========================================  ==================================
``sq8``         ``IndexScalarQuantizer`` (8 bit per value)    dim = 384 (4x less), exhaustive
``ivf-sq8``     ``IndexIVFScalarQuantizer``                   dim + 8 (the item id in its list)
``hnsw-sq8``    ``IndexHNSWSQ``                               dim + 4 * 2 * m (graph links)
``ivf-pq``      ``IndexIVFPQ`` (``pq_m`` codes of 8 bits)     pq_m + 8
==============  ==========================================  ==================================

``refine`` re-ranks the approximate candidates (``refine_k * k`` of them) with a second, finer copy of
every vector (``IndexRefine``): ``"flat"`` holds the float vectors (exact re-ranking, ``4 * dim`` more
bytes per item: no memory saved at all), ``"sq8"`` their int8 codes (``dim`` more bytes).

:meth:`FaissIndex.memory_bytes` measures what an index holds (its serialised size); recall against
exact float search is measured in ``bench/compression.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.errors import ConfigError, DataError, check_choice, check_positive_int
from explorec.index.exact import Exclude, check_metric, check_vectors, clip_k, exclusion_lists, l2_normalise
from explorec.ranking import top_k

logger = logging.getLogger(__name__)

KINDS = ("flat", "hnsw", "ivf", "sq8", "ivf-sq8", "hnsw-sq8", "ivf-pq")
#: second copies of the vectors that ``refine`` re-ranks the candidates with
REFINE = ("flat", "sq8")
#: kinds whose vectors are stored as codes, not float32
COMPRESSED_KINDS = ("sq8", "ivf-sq8", "hnsw-sq8", "ivf-pq")
#: k-means training points FAISS samples per centroid at most (it subsamples above this)
_MAX_POINTS_PER_CENTROID = 256
#: FAISS wants at least this many training points per IVF list (it warns below)
_POINTS_PER_LIST = 39


class FaissIndex:
    """FAISS index over item vectors; ``search`` and ``add`` as in ``ExactIndex``.

    Parameters
    ----------
    vectors : float32[n_items, dim]
        Item vectors; row ``i`` is item ``i``.
    metric : {"ip", "cosine"}
        Inner product, or cosine (vectors and queries are L2-normalised).
    kind : {"flat", "hnsw", "ivf", "sq8", "ivf-sq8", "hnsw-sq8", "ivf-pq"}
        ``flat``: exact search. ``hnsw``: graph search, approximate, no training. ``ivf``: inverted
        lists over k-means centroids trained on ``vectors``, approximate. The compressed kinds (module
        docstring) store int8 codes (``sq8``: exhaustive scan of the codes; ``ivf-sq8``, ``hnsw-sq8``)
        or product-quantised codes (``ivf-pq``); their quantisers are trained on ``vectors``.
    nlist : int
        IVF lists (clipped so that each list gets at least 39 training vectors).
    nprobe : int
        IVF lists visited per query.
    m : int
        HNSW neighbours per node.
    ef_construction, ef_search : int
        HNSW candidate-list sizes while building and while searching.
    pq_m : int, optional
        ``ivf-pq``: sub-vectors (bytes per item code); must divide ``dim``. None: ``dim // 4``.
    max_train : int, optional
        IVF kinds: vectors the k-means (and the product quantiser) train on, evenly spaced over
        ``vectors``; None: up to 256 per list (FAISS's own cap).
    refine : {"flat", "sq8"}, optional
        Re-rank ``refine_k * k`` candidates of the index with the float vectors (``"flat"``) or their
        int8 codes (``"sq8"``), both held in memory beside the index (``memory_bytes`` counts them).
    refine_k : int
        Candidates per wanted item that ``refine`` re-ranks.

    Notes
    -----
    ``search`` returns ``min(k, n_items)`` columns; slots an approximate index could not fill, or that
    exclusions emptied, hold item ``-1`` and score ``-inf``. Items added with ``add`` are searchable at
    once (IVF assigns them to the existing centroids).

    **Ties.** The returned items are ordered by :func:`explorec.ranking.top_k`, the library's one
    tie rule (higher score first, equal scores: lower item index first), exactly as ``ExactIndex``.
    Which items FAISS returns when several tie at the ``k``-th score is FAISS's choice (its heap
    keeps whichever it met first), so at that boundary an item of a higher index may appear where
    ``ExactIndex`` would return a lower one; the approximate kinds (IVF, HNSW) carry no exactness
    promise anyway.
    """

    def __init__(
        self,
        vectors: npt.ArrayLike,
        *,
        metric: str = "ip",
        kind: str = "flat",
        nlist: int = 100,
        nprobe: int = 10,
        m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        pq_m: int | None = None,
        max_train: int | None = None,
        refine: str | None = None,
        refine_k: int = 4,
    ) -> None:
        import faiss

        self.metric = check_metric(metric)
        check_choice("kind", kind, KINDS)
        self.kind = kind
        for name, value in (
            ("nlist", nlist),
            ("nprobe", nprobe),
            ("m", m),
            ("ef_construction", ef_construction),
            ("ef_search", ef_search),
        ):
            check_positive_int(name, value)
        if refine is not None and refine not in REFINE:
            raise ConfigError(f"refine must be one of {REFINE} or None, got {refine!r}")
        check_positive_int("refine_k", refine_k)
        self.refine, self.refine_k = refine, refine_k
        for name, optional in (("pq_m", pq_m), ("max_train", max_train)):
            if optional is not None:
                check_positive_int(name, optional)
        self.nlist, self.nprobe, self.m, self.pq_m = nlist, nprobe, m, pq_m
        self.ef_construction, self.ef_search = ef_construction, ef_search
        arr = self._prepare(check_vectors(vectors))
        dim = arr.shape[1]
        self._dim = dim
        faiss_metric = faiss.METRIC_INNER_PRODUCT
        self.index: Any
        if kind == "flat":
            self.index = faiss.IndexFlatIP(dim)
        elif kind in ("hnsw", "hnsw-sq8"):
            if kind == "hnsw":
                self.index = faiss.IndexHNSWFlat(dim, m, faiss_metric)
            else:
                # FAISS's stubs name the ScalarQuantizer class where the C++ takes its QuantizerType enum
                qtype: Any = faiss.ScalarQuantizer.QT_8bit
                self.index = faiss.IndexHNSWSQ(dim, qtype, m, faiss_metric)
                self.index.train(arr)
            self.index.hnsw.efConstruction = ef_construction
            self.index.hnsw.efSearch = ef_search
        elif kind == "sq8":
            self.index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss_metric)
            self.index.train(arr)  # the per-dimension value range the 256 levels cover
        else:
            lists = max(1, min(nlist, arr.shape[0] // _POINTS_PER_LIST))
            if lists != nlist:
                logger.info(
                    "faiss %s: %d vectors allow %d lists, not nlist=%d", kind, arr.shape[0], lists, nlist
                )
            quantizer = faiss.IndexFlatIP(dim)
            if kind == "ivf":
                self.index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss_metric)
            elif kind == "ivf-sq8":
                self.index = faiss.IndexIVFScalarQuantizer(
                    quantizer, dim, lists, faiss.ScalarQuantizer.QT_8bit, faiss_metric
                )
            else:
                sub = dim // 4 if pq_m is None else pq_m
                if dim % sub:
                    raise ConfigError(f"pq_m must divide the vector dimension {dim}, got {sub}")
                self.index = faiss.IndexIVFPQ(quantizer, dim, lists, sub, 8, faiss_metric)
            self.index.train(_training_sample(arr, lists, max_train))
            self.index.nprobe = min(nprobe, lists)
            self._quantizer = quantizer  # the IVF index does not own it
        if refine is not None:
            self._base = self.index  # IndexRefine does not own its base index
            if refine == "flat":
                self.index = faiss.IndexRefineFlat(self._base)
            else:
                self._fine = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit, faiss_metric)
                self._fine.train(arr)
                self.index = faiss.IndexRefine(self._base, self._fine)
            self.index.k_factor = float(refine_k)
        self.index.add(arr)
        n = arr.shape[0]
        # FAISS entries are not items once an item's vector is replaced (HNSW cannot remove an
        # entry): entry e holds item _entry_item[e]; _live[e] is False for a replaced vector
        self._entry_item = np.arange(n, dtype=np.int64)
        self._item_entry = np.arange(n, dtype=np.int64)
        self._live = np.ones(n, dtype=bool)

    def tune(self, *, nprobe: int | None = None, refine_k: int | None = None) -> None:
        """Change search-time settings without a rebuild: IVF lists visited, candidates re-ranked."""
        import faiss

        if nprobe is not None:
            if self.kind not in ("ivf", "ivf-sq8", "ivf-pq"):
                raise ConfigError(f"nprobe applies to the IVF kinds, this index is kind={self.kind!r}")
            ivf = faiss.extract_index_ivf(self.index)
            ivf.nprobe = min(check_positive_int("nprobe", nprobe), int(ivf.nlist))
            self.nprobe = nprobe
        if refine_k is not None:
            if self.refine is None:
                raise ConfigError("refine_k applies to an index built with refine='flat' or 'sq8'")
            self.index.k_factor = float(check_positive_int("refine_k", refine_k))
            self.refine_k = refine_k

    def memory_bytes(self, *, refine: bool = True) -> int:
        """Bytes the index holds: the size of its FAISS serialisation (codes, ids, graph, quantisers).

        With ``refine=False``, the approximate index alone, without the copy ``refine`` re-ranks with.
        """
        import faiss

        index = self._base if self.refine is not None and not refine else self.index
        return int(faiss.serialize_index(index).nbytes)

    def _prepare(self, arr: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.ascontiguousarray(l2_normalise(arr) if self.metric == "cosine" else arr)

    @property
    def n_items(self) -> int:
        return int(self._item_entry.size)

    @property
    def n_replaced(self) -> int:
        """Vectors replaced by :meth:`update` that the FAISS index still holds (never returned)."""
        return int(self._live.size - np.count_nonzero(self._live))

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return self.n_items

    def __repr__(self) -> str:
        return (
            f"FaissIndex(n_items={self.n_items}, dim={self.dim}, metric={self.metric!r}, kind={self.kind!r})"
        )

    def add(self, vectors: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Append item vectors; returns their new item indices (searchable at once)."""
        arr = self._prepare(check_vectors(vectors, dim=self.dim))
        start, entry = self.n_items, int(self.index.ntotal)
        self.index.add(arr)
        new = np.arange(start, start + arr.shape[0], dtype=np.int64)
        self._entry_item = np.concatenate([self._entry_item, new])
        self._item_entry = np.concatenate(
            [self._item_entry, np.arange(entry, entry + new.size, dtype=np.int64)]
        )
        self._live = np.concatenate([self._live, np.ones(new.size, dtype=bool)])
        return new

    def update(self, items: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Replace the vectors of ``items`` (int[m], already indexed) by ``vectors`` (float32[m, dim]).

        The new vectors are added as new FAISS entries and the old entries are never returned again
        (HNSW cannot remove an entry; flat and IVF could, but one rule for every kind keeps item ``i``
        at index ``i``); :attr:`n_replaced` counts them, so that a caller can rebuild when they pile up.
        """
        ids = np.asarray(items, dtype=np.int64).reshape(-1)
        arr = self._prepare(check_vectors(vectors, dim=self.dim))
        if arr.shape[0] != ids.size:
            raise DataError(f"update: {ids.size} items but {arr.shape[0]} vectors")
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_items):
            raise DataError(
                f"update: item indices must lie in [0, {self.n_items}), got {ids.min()}..{ids.max()}"
            )
        if np.unique(ids).size != ids.size:
            raise DataError("update: an item appears twice")
        if not ids.size:
            return
        entry = int(self.index.ntotal)
        self.index.add(arr)
        self._live[self._item_entry[ids]] = False
        self._item_entry[ids] = np.arange(entry, entry + ids.size, dtype=np.int64)
        self._entry_item = np.concatenate([self._entry_item, ids])
        self._live = np.concatenate([self._live, np.ones(ids.size, dtype=bool)])

    def search(
        self, queries: npt.ArrayLike, k: int, *, exclude: Exclude = None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The ``k`` highest-scoring items per query (see ``ExactIndex.search`` for the layout).

        With exclusions, each query asks FAISS for ``k`` plus the longest exclusion list of the batch,
        so that ``k`` items remain after the excluded ones are dropped.
        """
        q = self._prepare(check_vectors(queries, "queries", dim=self.dim))
        n = self.n_items
        k = clip_k(k, n)
        excluded = exclusion_lists(exclude, q.shape[0], n)
        extra = 0 if excluded is None else max((int(e.size) for e in excluded), default=0)
        entries = int(self.index.ntotal)
        # replaced entries are dropped below; asking for up to k more keeps k live answers unless
        # more than k replaced vectors crowd the query's neighbourhood (then fewer come back, -1)
        wide = min(entries, k + extra + min(self.n_replaced, k))
        raw_scores, raw_entries = self.index.search(q, wide)  # [B, wide] each
        raw_entries = raw_entries.astype(np.int64)
        found = raw_entries >= 0
        found[found] = self._live[raw_entries[found]]
        raw_items = np.where(found, self._entry_item[np.maximum(raw_entries, 0)], -1)
        raw_scores = raw_scores.astype(np.float32)
        raw_scores[~found] = -np.inf
        if excluded is not None:
            for row, drop in enumerate(excluded):
                hit = np.isin(raw_items[row], drop)
                raw_items[row, hit] = -1
                raw_scores[row, hit] = -np.inf
        # the library's one top-k over what FAISS returned: score descending, ties by the lower item
        # (as ExactIndex), empty slots last
        order = top_k(raw_scores, k, tiebreak=raw_items)
        items = np.take_along_axis(raw_items, order, axis=1)
        scores = np.take_along_axis(raw_scores, order, axis=1)
        items[np.isneginf(scores)] = -1
        return items, scores


def _training_sample(
    arr: npt.NDArray[np.float32], lists: int, max_train: int | None = None
) -> npt.NDArray[np.float32]:
    """The vectors the IVF k-means trains on: all, or an evenly spaced subset (``max_train``, 256 per list).

    FAISS subsamples above 256 points per centroid itself (with a warning); taking the subset here
    keeps the product quantiser's training set the same size and the build time bounded on large
    catalogues.
    """
    cap = _MAX_POINTS_PER_CENTROID * lists if max_train is None else max(lists, max_train)
    if arr.shape[0] <= cap:
        return arr
    step = arr.shape[0] / cap
    return np.ascontiguousarray(arr[(np.arange(cap) * step).astype(np.int64)])
