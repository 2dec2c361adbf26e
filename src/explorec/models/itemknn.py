"""Item-based k-nearest-neighbour collaborative filtering.

Sarwar et al., "Item-based collaborative filtering recommendation algorithms" (WWW 2001), and
Deshpande & Karypis, "Item-based top-N recommendation algorithms" (TOIS 2004): two items are similar
when the same users interact with both; a user's score for item ``j`` is the summed similarity of
``j`` to the items in the user's history, over the ``k`` most similar neighbours of ``j`` only.
"""

from __future__ import annotations

import itertools
import logging
import weakref
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from explorec import progress
from explorec.data.interactions import Catalog, Interactions
from explorec.errors import ConfigError, check_choice, check_positive_int
from explorec.models.base import Recommender

logger = logging.getLogger(__name__)

SIMILARITIES = ("cosine", "jaccard")
#: co-occurrence non-zeros handled at once (about 40 bytes each across the temporaries)
_BLOCK_ENTRIES = 2**22


class ItemKNN(Recommender):
    """Item-item similarity with shrinkage, ``k`` neighbours kept per item, scored by fold-in.

    With the binary user-item matrix ``X`` (users x items), ``c_ij = (X^T X)_ij`` the number of users
    who interacted with both items and ``n_i = c_ii`` the item's user count:

    * ``cosine``:  ``s_ij = c_ij / (sqrt(n_i) * sqrt(n_j) + shrinkage)``
    * ``jaccard``: ``s_ij = c_ij / (n_i + n_j - c_ij + shrinkage)``

    (``normalize=False`` keeps the raw co-occurrence count ``s_ij = c_ij``; ``shrinkage`` is then
    unused.) For each target item ``j`` only its ``k`` most similar items ``i != j`` are kept (the
    sparse column ``S[:, j]``), and the score is ``score(u, j) = sum_{i in history(u)} S[i, j]``,
    i.e. ``scores = H @ S`` with ``H`` the users' binary history rows. Because scores are computed
    from ``history``, users and histories unseen at fit time are scored without refitting.

    Parameters
    ----------
    k : int
        Neighbours kept per item (clipped to ``n_items - 1``).
    shrinkage : float
        Added to the similarity denominator; damps similarities supported by few users.
    similarity : {"cosine", "jaccard"}
        Normalisation of the co-occurrence counts.
    normalize : bool
        Divide co-occurrence counts by the similarity's denominator; False keeps raw counts.
    progress : bool
        Show a progress bar over item blocks while fitting (only on a terminal).

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix, float32[n_items, n_items]
        ``S``; column ``j`` holds the (at most ``k``) neighbours of item ``j``.

    Examples
    --------
    >>> from explorec.data import Interactions
    >>> data = Interactions.from_ids(["a", "a", "b", "b", "c"], ["x", "y", "x", "y", "x"])
    >>> model = ItemKNN(k=1, shrinkage=0.0).fit(data)
    >>> [round(float(s), 3) for s in model.score([2])[0]]  # user c saw x; y is x's only neighbour
    [0.0, 0.816]
    """

    name = "itemknn"
    uses_history = True

    similarity_: sp.csr_matrix

    def __init__(
        self,
        *,
        k: int = 100,
        shrinkage: float = 10.0,
        similarity: str = "cosine",
        normalize: bool = True,
        progress: bool = True,
    ) -> None:
        self.k = k
        self.shrinkage = shrinkage
        self.similarity = similarity
        self.normalize = normalize
        self.progress = progress

    @classmethod
    def contract_params(cls) -> dict[str, Any]:
        return {"k": 20, "shrinkage": 1.0, "progress": False}

    # ------------------------------------------------------------------ fit
    def _check_params(self) -> None:
        check_positive_int("k", self.k)
        check_choice("similarity", self.similarity, SIMILARITIES)
        if not float(self.shrinkage) >= 0.0:
            raise ConfigError(f"shrinkage must be >= 0, got {self.shrinkage!r}")

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        self._check_params()
        self._history_cache = None
        x = train.to_csr(binary=True)  # [U, I]
        xt = x.T.tocsr()  # [I, U]
        n_items = x.shape[1]
        k = min(int(self.k), max(n_items - 1, 1))
        counts = np.asarray(x.sum(axis=0), dtype=np.float64).ravel()  # n_i = c_ii
        blocks = _blocks(x, xt)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        bar = progress.bar(blocks, desc="itemknn", unit="block", show=self.progress)
        for start, stop in bar:
            # co-occurrence rows of the target items j in [start, stop): c_ji, only where non-zero
            cooc = (xt[start:stop] @ x).tocsr()  # [b, I]
            local = np.repeat(np.arange(stop - start), np.diff(cooc.indptr))  # [nnz]
            target = local + start
            neighbour = cooc.indices.astype(np.int64)
            sim = self._normalise(cooc.data.astype(np.float64), counts[target], counts[neighbour])
            keep = (neighbour != target) & (sim > 0.0)  # an item is not its own neighbour
            local, target, neighbour, sim = local[keep], target[keep], neighbour[keep], sim[keep]
            # per target: similarity descending, ties by the lower neighbour index; keep the first k
            order = np.lexsort((neighbour, -sim, local))
            ranked = local[order]
            rank = np.arange(ranked.size) - np.searchsorted(ranked, ranked, side="left")
            chosen = order[rank < k]
            rows.append(neighbour[chosen])
            cols.append(target[chosen])
            vals.append(sim[chosen].astype(np.float32))
        similarity = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_items, n_items),
            dtype=np.float32,
        )
        similarity.sort_indices()
        self.similarity_ = similarity
        logger.info("itemknn: %d items, %d neighbour links (k=%d)", n_items, similarity.nnz, k)

    def _normalise(
        self,
        cooc: npt.NDArray[np.float64],
        count_j: npt.NDArray[np.float64],
        count_i: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.float64]:
        """Similarity from co-occurrence counts ``c_ij`` and item counts ``n_j``, ``n_i`` (all [nnz])."""
        if not self.normalize:
            return cooc
        shrink = float(self.shrinkage)
        if self.similarity == "cosine":
            denom = np.sqrt(count_j * count_i) + shrink
        else:
            denom = count_j + count_i - cooc + shrink
        out = np.zeros_like(cooc)
        np.divide(cooc, denom, out=out, where=denom > 0)
        return out

    # ------------------------------------------------------------------ score
    def _score(self, users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.float32]:
        rows = history_rows(self, history, users)  # [B, I]
        return np.asarray((rows @ self.similarity_).toarray(), dtype=np.float32)  # [B, I]

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        return {"similarity_data": s.data, "similarity_indices": s.indices, "similarity_indptr": s.indptr}

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        n = self.n_items_
        self.similarity_ = sp.csr_matrix(
            (state["similarity_data"], state["similarity_indices"], state["similarity_indptr"]), shape=(n, n)
        )
        self._history_cache = None


def _blocks(x: sp.csr_matrix, xt: sp.csr_matrix) -> list[tuple[int, int]]:
    """Ranges of target items whose co-occurrence rows hold about ``_BLOCK_ENTRIES`` non-zeros.

    ``(X^T deg)_j``, the summed history length of item ``j``'s users, bounds the non-zeros of row ``j``.
    """
    degree = np.asarray(x.sum(axis=1), dtype=np.float64).ravel()  # [U]
    bound = np.cumsum(xt @ degree)  # [I]
    n_items = bound.size
    cuts = np.searchsorted(bound, np.arange(_BLOCK_ENTRIES, bound[-1] if n_items else 0, _BLOCK_ENTRIES))
    edges = np.unique(np.concatenate([[0], cuts, [n_items]])).astype(int).tolist()
    return list(itertools.pairwise(edges))


def history_rows(model: Any, history: Interactions, users: npt.NDArray[np.int64]) -> sp.csr_matrix:
    """Binary history rows ``float32[B, n_items]`` (CSR) of ``users``, caching the full matrix.

    Evaluation calls ``score`` batch after batch with the same ``history`` object; the users x items
    matrix is built once per history object (held by a weak reference, so the cache never outlives
    the data it describes; ``Interactions`` is immutable).
    """
    cache: tuple[weakref.ref[Interactions], sp.csr_matrix] | None = getattr(model, "_history_cache", None)
    if cache is not None and cache[0]() is history:
        matrix = cache[1]
    else:
        matrix = history.to_csr(binary=True)
        model._history_cache = (weakref.ref(history), matrix)
    return matrix[users]
