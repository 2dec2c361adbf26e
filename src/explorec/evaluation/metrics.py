"""Ranking and beyond-accuracy metrics: pure functions over arrays.

Conventions shared by every function here:

* ``top_items int64[B, K]`` holds each user's ranked list, best first, in internal item indices.
  ``-1`` marks an empty slot (fewer recommendable items than ``K``); an empty slot is never a hit and
  is left out of every beyond-accuracy metric.
* ``hits bool[B, K]`` says whether ``top_items[u, j]`` is relevant (in the user's test set) and
  ``n_relevant int[B]`` counts each user's distinct relevant items; :func:`hit_matrix` builds both.
* A metric "@k" reads the first ``k`` columns; ``k`` may not exceed ``K``.
* Per-user metrics return ``float64[B]``; catalogue metrics (coverage, Gini) return a float.
* A user with no relevant item gets 0 on every accuracy metric (undefined otherwise; the protocol
  only evaluates users with at least one test item).

The accuracy definitions follow RecBole (Zhao et al., 2021, "RecBole: Towards a Unified, Comprehensive
and Efficient Framework for Recommendation Algorithms"), so numbers are comparable with papers using it:
recall divides by ``n_relevant`` (not ``min(n_relevant, k)``), precision divides by ``k``, NDCG uses
binary gains with the ideal DCG over ``min(n_relevant, k)`` positions (Järvelin & Kekäläinen, 2002) and
MAP divides the summed precisions at the hits by ``min(n_relevant, k)``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from explorec.errors import ConfigError, DataError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


def _cut(matrix: np.ndarray, k: int) -> np.ndarray:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    if matrix.ndim != 2:
        raise DataError(f"expected a 2-d [users, positions] array, got shape {matrix.shape}")
    if k > matrix.shape[1]:
        raise ConfigError(f"k={k} exceeds the length of the ranked lists ({matrix.shape[1]})")
    return matrix[:, :k]


def _discounts(k: int) -> F64:
    """``1 / log2(rank + 1)`` for ranks 1..k."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


# ---------------------------------------------------------------------------------- relevance
def hit_matrix(
    top_items: npt.ArrayLike,
    users: npt.ArrayLike,
    test_user: npt.ArrayLike,
    test_item: npt.ArrayLike,
    *,
    n_items: int,
) -> tuple[Bool, I64]:
    """Which recommended items are relevant, and how many relevant items each user has.

    Vectorised: (user, item) pairs are encoded as ``user * n_items + item`` keys and looked up with
    one ``searchsorted`` in the sorted unique test keys.

    Parameters
    ----------
    top_items : int[B, K]
        Ranked lists (``-1`` = empty slot).
    users : int[B]
        The user of each row.
    test_user, test_item : int[n]
        The relevant (test) pairs; duplicates count once.
    n_items : int
        Catalogue size.

    Returns
    -------
    hits : bool[B, K]
    n_relevant : int64[B]
        Distinct relevant items per row's user.
    """
    top = np.asarray(top_items, dtype=np.int64)
    u = np.asarray(users, dtype=np.int64).reshape(-1)
    if top.ndim != 2 or top.shape[0] != u.shape[0]:
        raise DataError(f"top_items has shape {top.shape}, expected ({u.shape[0]}, K)")
    keys = np.unique(np.asarray(test_user, dtype=np.int64) * n_items + np.asarray(test_item, dtype=np.int64))
    valid = top >= 0
    query = u[:, None] * n_items + np.where(valid, top, 0)
    pos = np.searchsorted(keys, query)
    found = keys[np.minimum(pos, max(keys.size - 1, 0))] == query if keys.size else np.zeros_like(valid)
    hits = found & valid
    # relevant items per user: count keys whose user part equals each row's user
    key_users = keys // n_items
    n_relevant = np.searchsorted(key_users, u, side="right") - np.searchsorted(key_users, u, side="left")
    return hits, n_relevant.astype(np.int64)


# ---------------------------------------------------------------------------------- accuracy
def recall(hits: npt.ArrayLike, n_relevant: npt.ArrayLike, k: int) -> F64:
    """Recall@k = (hits in the top k) / n_relevant (RecBole convention)."""
    h = _cut(np.asarray(hits, dtype=bool), k)
    n = np.asarray(n_relevant, dtype=np.float64)
    return np.divide(h.sum(axis=1), n, out=np.zeros(h.shape[0]), where=n > 0)


def precision(hits: npt.ArrayLike, k: int) -> F64:
    """Precision@k = (hits in the top k) / k."""
    h = _cut(np.asarray(hits, dtype=bool), k)
    return np.asarray(h.sum(axis=1) / float(k), dtype=np.float64)


def hit_rate(hits: npt.ArrayLike, k: int) -> F64:
    """HitRate@k = 1 when at least one of the top k is relevant, else 0."""
    h = _cut(np.asarray(hits, dtype=bool), k)
    return np.asarray(h.any(axis=1), dtype=np.float64)


def ndcg(hits: npt.ArrayLike, n_relevant: npt.ArrayLike, k: int) -> F64:
    """NDCG@k with binary gains.

    ``DCG = sum_{j<k} hit_j / log2(j + 2)``; ``IDCG`` is the DCG of ``min(n_relevant, k)`` hits at the
    top (Järvelin & Kekäläinen, 2002).
    """
    h = _cut(np.asarray(hits, dtype=bool), k)
    n = np.asarray(n_relevant, dtype=np.int64)
    disc = _discounts(k)
    dcg = h @ disc
    ideal = np.concatenate([[0.0], np.cumsum(disc)])[np.clip(n, 0, k)]
    return np.divide(dcg, ideal, out=np.zeros(h.shape[0]), where=ideal > 0)


def mrr(hits: npt.ArrayLike, k: int) -> F64:
    """MRR@k: 1 / (rank of the first hit) when it lies within the top k, else 0."""
    h = _cut(np.asarray(hits, dtype=bool), k)
    first = np.argmax(h, axis=1)
    return np.where(h.any(axis=1), 1.0 / (first + 1.0), 0.0)


def average_precision(hits: npt.ArrayLike, n_relevant: npt.ArrayLike, k: int) -> F64:
    """AP@k (per-user term of MAP@k), RecBole convention.

    ``AP@k = sum_{j<k} hit_j * precision@(j+1) / min(n_relevant, k)``.
    """
    h = _cut(np.asarray(hits, dtype=bool), k)
    n = np.asarray(n_relevant, dtype=np.float64)
    prec = np.cumsum(h, axis=1) / np.arange(1, k + 1, dtype=np.float64)
    total = (prec * h).sum(axis=1)
    denom = np.minimum(n, k)
    return np.divide(total, denom, out=np.zeros(h.shape[0]), where=denom > 0)


# ---------------------------------------------------------------------------------- beyond accuracy
def item_popularity(user: npt.ArrayLike, item: npt.ArrayLike, n_items: int) -> tuple[I64, int]:
    """Distinct users per item and the number of users with any interaction.

    Repeated (user, item) events count once, so ``popularity / n_users`` is a share in [0, 1].

    Returns
    -------
    popularity : int64[n_items]
    n_users : int
        Users with at least one interaction (the denominator of the popularity share).
    """
    u = np.asarray(user, dtype=np.int64)
    i = np.asarray(item, dtype=np.int64)
    keys = np.unique(u * n_items + i)
    popularity = np.bincount(keys % n_items, minlength=n_items).astype(np.int64)
    return popularity, int(np.unique(keys // n_items).size)


def coverage(top_items: npt.ArrayLike, n_items: int, k: int) -> float:
    """Catalogue coverage@k: distinct items in anyone's top k / ``n_items``."""
    top = _cut(np.asarray(top_items, dtype=np.int64), k)
    return float(np.unique(top[top >= 0]).size / n_items)


def exposure_counts(top_items: npt.ArrayLike, n_items: int, k: int) -> I64:
    """How often each item appears in the top k of all lists: ``int64[n_items]``."""
    top = _cut(np.asarray(top_items, dtype=np.int64), k)
    return np.bincount(top[top >= 0], minlength=n_items).astype(np.int64)


def gini(values: npt.ArrayLike) -> float:
    """Gini coefficient of non-negative values (0 = equal, -> 1 = concentrated on one).

    ``G = sum_i (2i - n - 1) x_(i) / (n sum x)`` over the ascending order ``x_(1) <= ... <= x_(n)``;
    0 when everything is 0.
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    total = x.sum()
    if n == 0 or total == 0:
        return 0.0
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * i - n - 1) * x).sum() / (n * total))


def gini_exposure(top_items: npt.ArrayLike, n_items: int, k: int) -> float:
    """Gini@k of item exposure over the whole catalogue; never-recommended items count as 0."""
    return gini(exposure_counts(top_items, n_items, k))


def novelty(top_items: npt.ArrayLike, popularity: npt.ArrayLike, n_users: int, k: int) -> F64:
    """Mean self-information of the recommended items (Zhou et al., 2010, PNAS).

    ``novelty_u = mean_{i in top k} -log2(max(pop_i, 1) / n_users)``; an item no one interacted with
    is counted as seen once (its share would otherwise be 0 and its information infinite). Empty slots
    are skipped; a list with no items gets 0.
    """
    top = _cut(np.asarray(top_items, dtype=np.int64), k)
    pop = np.maximum(np.asarray(popularity, dtype=np.float64), 1.0)
    info = -np.log2(pop / float(max(n_users, 1)))
    valid = top >= 0
    values = np.where(valid, info[np.where(valid, top, 0)], 0.0)
    count = valid.sum(axis=1)
    return np.divide(values.sum(axis=1), count, out=np.zeros(top.shape[0]), where=count > 0)


def average_popularity(top_items: npt.ArrayLike, popularity: npt.ArrayLike, k: int) -> F64:
    """ARP@k: mean popularity (history users per item) of the recommended items (Abdollahpouri et al., 2019).

    Empty slots are skipped; a list with no items gets 0.
    """
    top = _cut(np.asarray(top_items, dtype=np.int64), k)
    pop = np.asarray(popularity, dtype=np.float64)
    valid = top >= 0
    values = np.where(valid, pop[np.where(valid, top, 0)], 0.0)
    count = valid.sum(axis=1)
    return np.divide(values.sum(axis=1), count, out=np.zeros(top.shape[0]), where=count > 0)


def intra_list_diversity(
    top_items: npt.ArrayLike,
    k: int,
    *,
    item_vectors: npt.ArrayLike | None = None,
    item_categories: npt.ArrayLike | None = None,
    chunk_size: int = 1024,
) -> F64:
    """ILD@k: mean pairwise dissimilarity within each list (Ziegler et al., 2005).

    With ``item_vectors float[n_items, dim]`` the dissimilarity is ``1 - cosine``; a zero vector has
    cosine 0 with everything. With ``item_categories [n_items]`` (any comparable values) it is 1 when
    the two items' values differ, so ILD is the share of pairs from different categories. Exactly one
    of the two must be given. Only filled slots form pairs; a list with fewer than two items gets 0.
    Lists are processed ``chunk_size`` at a time so that memory stays at ``chunk_size * k * dim``.
    """
    if (item_vectors is None) == (item_categories is None):
        raise ConfigError("intra_list_diversity: give exactly one of item_vectors and item_categories")
    top = _cut(np.asarray(top_items, dtype=np.int64), k)
    valid = top >= 0
    safe = np.where(valid, top, 0)
    out = np.zeros(top.shape[0], dtype=np.float64)
    if item_vectors is not None:
        vec = np.asarray(item_vectors, dtype=np.float64)
        if vec.ndim != 2:
            raise DataError(f"item_vectors must be 2-d [n_items, dim], got shape {vec.shape}")
        norms = np.linalg.norm(vec, axis=1, keepdims=True)
        unit = np.divide(vec, norms, out=np.zeros_like(vec), where=norms > 0)
    else:
        cats = np.asarray(item_categories)
        if cats.ndim != 1:
            raise DataError(f"item_categories must be 1-d [n_items], got shape {cats.shape}")
    for start in range(0, top.shape[0], chunk_size):
        rows = slice(start, start + chunk_size)
        v = valid[rows]
        pair = v[:, :, None] & v[:, None, :]
        pair &= ~np.eye(k, dtype=bool)[None]
        if item_vectors is not None:
            x = unit[safe[rows]]  # [b, k, dim]
            dissimilar = 1.0 - np.einsum("bid,bjd->bij", x, x)
        else:
            c = cats[safe[rows]]  # [b, k]
            dissimilar = (c[:, :, None] != c[:, None, :]).astype(np.float64)
        n_pairs = pair.sum(axis=(1, 2))
        total = np.where(pair, dissimilar, 0.0).sum(axis=(1, 2))
        out[rows] = np.divide(total, n_pairs, out=np.zeros(total.shape[0]), where=n_pairs > 0)
    return out
