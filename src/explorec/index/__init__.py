"""Top-k retrieval over item vectors: exact (numpy/BLAS) and FAISS, behind one interface.

Every index has ``search(queries, k, *, exclude=None) -> (items int64[B, k], scores float32[B, k])``,
``add(vectors) -> new item indices``, ``update(items, vectors)`` (replace indexed items' vectors),
``n_items`` and ``dim``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from explorec.errors import ConfigError
from explorec.index.exact import ExactIndex, Exclude, top_k
from explorec.index.faiss_index import COMPRESSED_KINDS, KINDS, FaissIndex

BACKENDS = ("exact", "faiss")


class Index(Protocol):
    """What the pipeline needs from a retrieval index."""

    @property
    def n_items(self) -> int: ...

    @property
    def dim(self) -> int: ...

    def add(self, vectors: npt.ArrayLike) -> npt.NDArray[np.int64]: ...

    def update(self, items: npt.ArrayLike, vectors: npt.ArrayLike) -> None: ...

    def search(
        self, queries: npt.ArrayLike, k: int, *, exclude: Exclude = None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]: ...


def make_index(vectors: npt.ArrayLike, backend: str = "exact", **options: Any) -> Index:
    """Build an index over ``vectors`` (float32[n_items, dim]).

    Parameters
    ----------
    backend : {"exact", "faiss"}
        ``exact``: ``ExactIndex`` (options: ``metric``). ``faiss``: ``FaissIndex`` (options: ``metric``,
        ``kind`` (``flat``, ``hnsw``, ``ivf``, or compressed: ``sq8``, ``ivf-sq8``, ``hnsw-sq8``,
        ``ivf-pq``), ``nlist``, ``nprobe``, ``m``, ``ef_construction``, ``ef_search``, ``pq_m``).
    """
    if backend == "exact":
        return ExactIndex(vectors, **options)
    if backend == "faiss":
        return FaissIndex(vectors, **options)
    raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")


__all__ = [
    "BACKENDS",
    "COMPRESSED_KINDS",
    "KINDS",
    "ExactIndex",
    "Exclude",
    "FaissIndex",
    "Index",
    "make_index",
    "top_k",
]
