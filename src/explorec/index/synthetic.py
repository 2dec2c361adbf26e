"""Seeded, clustered unit vectors for measuring retrieval indexes, and recall against exact search.

Uniform random vectors in 384 dimensions are all nearly orthogonal to one another, so "the 10 nearest"
is noise and any index's recall on them means little. Sentence embeddings instead lie near a
low-dimensional set with topical clusters. :func:`clustered_vectors` draws that shape::

    x = normalise( c_g + B z + noise )     g ~ uniform over n_clusters, z ~ N(0, spread^2 I_rank),
                                           noise ~ N(0, noise^2 I_dim)

with unit cluster centres ``c_g`` drawn uniformly on the sphere, one ``[dim, rank]`` Gaussian basis
``B`` (columns of norm 1, shared by all clusters: the directions along which items of a topic vary)
and a small isotropic noise. Generation runs in blocks, so 1,000,000 x 384 needs only the 1.5 GB of
the result.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from explorec.errors import DataError, check_positive_int

_BLOCK = 100_000


def clustered_vectors(
    n: int,
    dim: int = 384,
    *,
    n_clusters: int = 1000,
    rank: int = 32,
    spread: float = 0.35,
    noise: float = 0.02,
    seed: int = 0,
    stream: int = 0,
) -> npt.NDArray[np.float32]:
    """``float32[n, dim]`` unit rows from the clustered distribution of the module docstring.

    Parameters
    ----------
    n, dim : int
    n_clusters, rank : int
        Cluster centres, and the dimension of the shared within-cluster subspace.
    spread, noise : float
        Standard deviation of the within-cluster coordinates and of the isotropic noise.
    seed : int
        Seeds the distribution (centres and basis): the same seed is the same distribution.
    stream : int
        Seeds the draws from it: items (``stream=0``) and queries (``stream=1``) of one distribution.

    >>> x = clustered_vectors(5, 8, n_clusters=2, rank=2, seed=0)
    >>> x.shape, bool(np.allclose(np.linalg.norm(x, axis=1), 1.0))
    ((5, 8), True)
    """
    for name, value in (("n", n), ("dim", dim), ("n_clusters", n_clusters), ("rank", rank)):
        check_positive_int(name, value)
    if spread < 0 or noise < 0:
        raise DataError(f"spread and noise must be >= 0, got spread={spread!r}, noise={noise!r}")
    shape_rng = np.random.default_rng(seed)
    centres = shape_rng.standard_normal((n_clusters, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    basis = shape_rng.standard_normal((rank, dim), dtype=np.float32)
    basis /= np.linalg.norm(basis, axis=1, keepdims=True)
    rng = np.random.default_rng([seed, stream + 1])
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, _BLOCK):
        m = min(_BLOCK, n - start)
        block = centres[rng.integers(0, n_clusters, m)]
        block += (spread * rng.standard_normal((m, rank), dtype=np.float32)) @ basis
        block += noise * rng.standard_normal((m, dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + m] = block
    return out


def recall_at_k(found: npt.ArrayLike, exact: npt.ArrayLike) -> float:
    """Mean over queries of ``|found_q ∩ exact_q| / k`` (``k`` = the columns of ``exact``; -1 never counts).

    >>> recall_at_k([[1, 2, 3], [4, 5, -1]], [[3, 2, 9], [4, 6, 7]])
    0.5
    """
    a = np.asarray(found, dtype=np.int64)
    b = np.asarray(exact, dtype=np.int64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise DataError(f"found {a.shape} and exact {b.shape} must be [n_queries, k] arrays of one length")
    hits = [len(set(row[row >= 0].tolist()) & set(want.tolist())) for row, want in zip(a, b, strict=True)]
    return float(np.mean(hits) / b.shape[1]) if hits else float("nan")
