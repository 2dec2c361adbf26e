"""Exact top-k retrieval by maximum inner product (or cosine), with per-query exclusions.

Scores every item with one BLAS matrix product per query batch and selects the top ``k`` with the
library's one top-k (:func:`explorec.ranking.rank_top_k`: ``O(n)`` partition per query, then a sort
of only those ``k``; ties go to the lower item index).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from explorec.errors import DataError, check_choice, check_positive_int
from explorec.ranking import rank_top_k

logger = logging.getLogger(__name__)

METRICS = ("ip", "cosine")
#: an exclusion list per query: a CSR matrix [B, n_items] (non-zeros are excluded) or index arrays
Exclude: TypeAlias = sp.spmatrix | sp.sparray | Sequence[npt.ArrayLike] | None
#: query x item scores computed at once; 2**24 float32 = 64 MiB
_BLOCK_ENTRIES = 2**24


def check_vectors(
    vectors: npt.ArrayLike, name: str = "vectors", dim: int | None = None
) -> npt.NDArray[np.float32]:
    """``vectors`` as a C-contiguous float32[n, dim] array, or ``DataError`` naming ``name``."""
    arr = np.ascontiguousarray(vectors, dtype=np.float32)
    if arr.ndim != 2:
        raise DataError(f"{name} must be a 2-d array [n, dim], got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise DataError(f"{name} have dimension {arr.shape[1]}, the index holds dimension {dim}")
    if not np.isfinite(arr).all():
        bad = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise DataError(f"{name}: row {bad} holds a NaN or infinite value")
    return arr


def check_metric(metric: str) -> str:
    return check_choice("metric", metric, METRICS)


def l2_normalise(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows divided by their L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def exclusion_lists(exclude: Exclude, n_queries: int, n_items: int) -> list[npt.NDArray[np.int64]] | None:
    """Normalise ``exclude`` to one int64 array of item indices per query (None when nothing to exclude)."""
    if exclude is None:
        return None
    if sp.issparse(exclude):
        matrix = sp.csr_matrix(exclude)
        if matrix.shape[0] != n_queries:
            raise DataError(f"exclude has {matrix.shape[0]} rows for {n_queries} queries")
        if matrix.shape[1] > n_items:
            raise DataError(f"exclude has {matrix.shape[1]} columns, the index holds {n_items} items")
        bounds = matrix.indptr
        return [matrix.indices[bounds[q] : bounds[q + 1]].astype(np.int64) for q in range(n_queries)]
    lists = [np.asarray(row, dtype=np.int64).reshape(-1) for row in exclude]
    if len(lists) != n_queries:
        raise DataError(f"exclude has {len(lists)} lists for {n_queries} queries")
    for q, row in enumerate(lists):
        if row.size and (row.min() < 0 or row.max() >= n_items):
            raise DataError(
                f"exclude[{q}]: item indices must lie in [0, {n_items}), got {row.min()}..{row.max()}"
            )
    return lists


def clip_k(k: int, n_items: int) -> int:
    """``k`` clipped to the number of items, with a log warning when it is clipped."""
    check_positive_int("k", k)
    if k > n_items:
        logger.warning("k=%d exceeds the %d indexed items; returning %d per query", k, n_items, n_items)
    return min(int(k), n_items)


class ExactIndex:
    """Brute-force top-k search over item vectors: ``scores = queries @ vectors.T``.

    Parameters
    ----------
    vectors : float32[n_items, dim]
        Item vectors; row ``i`` is item ``i``.
    metric : {"ip", "cosine"}
        Inner product, or cosine (vectors and queries are L2-normalised).

    Notes
    -----
    ``search`` returns ``min(k, n_items)`` columns. Where exclusions leave fewer than ``k`` items for a
    query, the missing slots hold item ``-1`` and score ``-inf``. Ties are broken by the lower item index.

    Examples
    --------
    >>> index = ExactIndex(np.eye(3, dtype=np.float32))
    >>> items, scores = index.search(np.array([[0.0, 1.0, 0.5]]), 2, exclude=[[1]])
    >>> items.tolist(), scores.tolist()
    ([[2, 0]], [[0.5, 0.0]])
    """

    def __init__(self, vectors: npt.ArrayLike, *, metric: str = "ip") -> None:
        self.metric = check_metric(metric)
        arr = check_vectors(vectors)
        self.vectors = l2_normalise(arr) if metric == "cosine" else arr

    @property
    def n_items(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return self.n_items

    def __repr__(self) -> str:
        return f"ExactIndex(n_items={self.n_items}, dim={self.dim}, metric={self.metric!r})"

    def add(self, vectors: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Append item vectors; returns their new item indices (searchable at once)."""
        arr = check_vectors(vectors, dim=self.dim)
        if self.metric == "cosine":
            arr = l2_normalise(arr)
        start = self.n_items
        self.vectors = np.concatenate([self.vectors, arr])
        return np.arange(start, self.n_items, dtype=np.int64)

    def update(self, items: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Replace the vectors of ``items`` (int[m], already indexed) by ``vectors`` (float32[m, dim])."""
        ids = np.asarray(items, dtype=np.int64).reshape(-1)
        arr = check_vectors(vectors, dim=self.dim)
        if arr.shape[0] != ids.size:
            raise DataError(f"update: {ids.size} items but {arr.shape[0]} vectors")
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_items):
            raise DataError(
                f"update: item indices must lie in [0, {self.n_items}), got {ids.min()}..{ids.max()}"
            )
        self.vectors[ids] = l2_normalise(arr) if self.metric == "cosine" else arr

    def search(
        self, queries: npt.ArrayLike, k: int, *, exclude: Exclude = None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """The ``k`` highest-scoring items per query.

        Parameters
        ----------
        queries : float32[B, dim]
        k : int
            Items per query (clipped to ``n_items`` with a log warning).
        exclude : CSR matrix [B, n_items] or sequence of B int arrays, optional
            Items never returned for that query (e.g. the user's history).

        Returns
        -------
        items : int64[B, min(k, n_items)]
            Best first; ``-1`` where exclusions leave fewer than ``k`` items.
        scores : float32[B, min(k, n_items)]
            Aligned with ``items``; ``-inf`` in the empty slots.
        """
        q = check_vectors(queries, "queries", dim=self.dim)
        if self.metric == "cosine":
            q = l2_normalise(q)
        n = self.n_items
        k = clip_k(k, n)
        excluded = exclusion_lists(exclude, q.shape[0], n)
        items = np.empty((q.shape[0], k), dtype=np.int64)
        scores = np.empty((q.shape[0], k), dtype=np.float32)
        block = max(1, _BLOCK_ENTRIES // max(n, 1))
        for start in range(0, q.shape[0], block):
            stop = min(start + block, q.shape[0])
            s = q[start:stop] @ self.vectors.T  # [b, n]
            if excluded is not None:
                for row, drop in enumerate(excluded[start:stop]):
                    s[row, drop] = -np.inf
            items[start:stop], scores[start:stop] = top_k(s, k)
        return items, scores


def top_k(scores: npt.NDArray[np.float32], k: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Row-wise top ``k`` of ``scores`` [B, n], best first; ``-inf`` entries come back as item ``-1``.

    The one top-k of :func:`explorec.ranking.rank_top_k`, so the tie rule is the library's: higher
    score first, ties broken by the lower item index; NaN raises ``DataError``.
    """
    s = np.asarray(scores, dtype=np.float32)
    items = rank_top_k(s, k)  # [B, min(k, n)], -1 where only -inf entries remain
    best = np.take_along_axis(s, np.maximum(items, 0), axis=1)
    best[items < 0] = -np.inf
    return items, best.astype(np.float32)
