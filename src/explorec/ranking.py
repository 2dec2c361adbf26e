"""The one masking function and the one top-k, shared by the protocol, pipeline, re-rankers,
policies and simulator.

**Tie rule** (every ranking in explorec follows it): higher value first; among equal values the
lower *tie-break key* first, where the key is the item index when the caller gives one and the
position in the input otherwise. ``-inf`` marks an entry that must never be ranked (a masked item);
:func:`rank_top_k` reports it as item ``-1``. NaN is an error.

This module sits below models and evaluation (it imports only numpy, scipy and :mod:`explorec.errors`),
so both can use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from explorec.errors import DataError

I64 = npt.NDArray[np.int64]


def top_k(values: npt.ArrayLike, k: int, *, tiebreak: npt.ArrayLike | None = None) -> I64:
    """Positions of the ``k`` largest values (1-d) or of each row (2-d), best first.

    Parameters
    ----------
    values : float[m] or float[B, m]
        Any float dtype; float32 goes through a packed integer key (fast on large matrices).
    k : int
        How many (``min(k, m)`` are returned).
    tiebreak : int[m] or int[B, m], optional
        Tie-break key (e.g. item indices): the lower key wins a tie. Default: the position.

    Returns
    -------
    int64[min(k, m)] or int64[B, min(k, m)]
        Positions into ``values``, best first (``-inf`` entries sort last; callers drop them).
    """
    v = np.asarray(values)
    one_d = v.ndim == 1
    v2 = v[None, :] if one_d else v
    if v2.ndim != 2:
        raise DataError(f"top_k: values must be 1-d or 2-d, got shape {v.shape}")
    b, m = v2.shape
    kk = min(int(k), m)
    if v2.size and np.isnan(v2.min()):
        row = int(np.flatnonzero(np.isnan(v2).any(axis=1))[0])
        raise DataError(f"top_k: values contain NaN (first in row {row})")
    if tiebreak is None:
        tb = np.broadcast_to(np.arange(m, dtype=np.int64), (b, m))
    else:
        tb = np.broadcast_to(np.asarray(tiebreak, dtype=np.int64), (b, m))
    if kk == 0:
        out = np.zeros((b, 0), dtype=np.int64)
    elif v2.dtype == np.float32:
        out = _top_float32(v2 + np.float32(0.0), tb, kk)
    else:
        out = _top_generic(np.asarray(v2, dtype=np.float64) + 0.0, tb, kk)
    return out[0] if one_d else out


def _top_generic(v: npt.NDArray[np.float64], tb: I64, kk: int) -> I64:
    b, m = v.shape
    if kk == 1:  # the maximum; among equal maxima the lowest key
        keyed = np.where(v == v.max(axis=1, keepdims=True), tb, np.iinfo(np.int64).max)
        return keyed.argmin(axis=1)[:, None].astype(np.int64)
    if m <= 64:  # small rows: one sort is cheaper than partition + checks
        return np.lexsort((tb, -v), axis=1)[:, :kk].astype(np.int64)
    if kk < m:
        part = np.argpartition(-v, kk - 1, axis=1)[:, :kk]  # [B, kk] unordered
        kth = np.take_along_axis(v, part, axis=1).min(axis=1, keepdims=True)  # [B, 1]
        # argpartition cuts ties at the k-th place arbitrarily: re-rank those rows in full
        tied = np.flatnonzero(np.count_nonzero(v >= kth, axis=1) > kk)
        if tied.size:
            part[tied] = np.lexsort((tb[tied], -v[tied]), axis=1)[:, :kk]
    else:
        part = np.tile(np.arange(m), (b, 1))
    order = np.lexsort((np.take_along_axis(tb, part, axis=1), -np.take_along_axis(v, part, axis=1)), axis=1)
    return np.take_along_axis(part, order, axis=1).astype(np.int64)


def _keys(s: npt.NDArray[np.float32], tb: I64) -> I64:
    """Order-preserving int64 keys packing (score, -tiebreak): distinct, so sorting is deterministic."""
    bits = s.view(np.int32)
    ordered = np.where(bits < 0, bits ^ np.int32(0x7FFFFFFF), bits).astype(np.int64)
    return (ordered << 32) | np.where(tb >= 0, np.int64(0xFFFFFFFF) - tb, 0)


def _by_keys(s: npt.NDArray[np.float32], tb: I64, kk: int) -> I64:
    keys = _keys(s, tb)
    m = s.shape[1]
    pos = (
        np.argpartition(keys, m - kk, axis=1)[:, m - kk :]
        if kk < m
        else np.broadcast_to(np.arange(m), s.shape)
    )
    order = np.argsort(np.take_along_axis(keys, pos, axis=1), axis=1)[:, ::-1]
    return np.asarray(np.take_along_axis(pos, order, axis=1), dtype=np.int64)


def _top_float32(s: npt.NDArray[np.float32], tb: I64, kk: int) -> I64:
    # fast path: one argpartition on the floats, exact unless a left-out entry ties with the k-th
    m = s.shape[1]
    if kk >= m:
        return _by_keys(s, tb, kk)
    part = np.argpartition(s, m - kk, axis=1)[:, m - kk :]  # [B, kk] unordered
    sel = np.take_along_axis(s, part, axis=1)
    pos = np.take_along_axis(part, _by_keys(sel, np.take_along_axis(tb, part, axis=1), kk), axis=1)
    tied = np.count_nonzero(s >= sel.min(axis=1, keepdims=True), axis=1) > kk
    if tied.any():
        rows = np.flatnonzero(tied)
        pos[rows] = _by_keys(s[rows], tb[rows], kk)
    return np.asarray(pos, dtype=np.int64)


def rank_top_k(scores: npt.ArrayLike, k: int, items: I64 | None = None) -> I64:
    """The ``k`` best items per row of a score matrix, best first, ``-inf`` never ranked.

    Parameters
    ----------
    scores : float32[B, m]
        Scores of the candidates (``-0.0`` is treated as ``0.0``); NaN raises ``DataError``.
    k : int
    items : int64[B, m], optional
        Item index of each candidate (``-1`` = no candidate); column index when None. Ties go to the
        lower item index.

    Returns
    -------
    int64[B, k]
        Item indices; ``-1`` where fewer than ``k`` candidates have a score above ``-inf``.
    """
    s = np.asarray(scores, dtype=np.float32)
    b, m = s.shape
    cand = np.broadcast_to(np.arange(m, dtype=np.int64), (b, m)) if items is None else items
    pos = top_k(s, k, tiebreak=cand)
    top = np.take_along_axis(cand, pos, axis=1).copy()
    top[np.take_along_axis(s, pos, axis=1) == -np.inf] = -1
    if pos.shape[1] < k:
        top = np.hstack([top, np.full((b, k - pos.shape[1]), -1, dtype=np.int64)])
    return top


def mask_matrix(
    users: npt.ArrayLike,
    n_items: int,
    *,
    seen: sp.csr_matrix | None = None,
    exclude: Sequence[int] | npt.ArrayLike | None = None,
    available: npt.ArrayLike | None = None,
) -> npt.NDArray[np.bool_]:
    """``bool[B, n_items]``: True where an item must not be recommended to the row's user.

    Parameters
    ----------
    users : int[B]
        Row indices into ``seen``.
    n_items : int
    seen : csr [n_users, n_items], optional
        The pairs to mask (each user's known items).
    exclude : int[m], optional
        Items masked for every row (out of stock, already shown, ...).
    available : bool[n_items], optional
        Items that exist now; the others are masked (e.g. items not released yet).
    """
    u = np.asarray(users, dtype=np.int64).reshape(-1)
    masked = np.zeros((u.size, int(n_items)), dtype=bool)
    if seen is not None:
        if seen.shape[1] != n_items:
            raise DataError(f"mask: seen has {seen.shape[1]} items, scores {n_items}")
        rows = seen[u]
        masked[np.repeat(np.arange(u.size), np.diff(rows.indptr)), rows.indices] = True
    if exclude is not None:
        ex = np.asarray(exclude, dtype=np.int64).reshape(-1)
        if ex.size:
            if ex.min() < 0 or ex.max() >= n_items:
                bad = int(ex[(ex < 0) | (ex >= n_items)][0])
                raise DataError(f"exclude: item index {bad} outside 0..{n_items - 1}")
            masked[:, ex] = True
    if available is not None:
        avail = np.asarray(available, dtype=bool).reshape(-1)
        if avail.size != n_items:
            raise DataError(f"available has {avail.size} entries for {n_items} items")
        masked |= ~avail[None, :]
    return masked


def apply_mask(scores: npt.ArrayLike, masked: npt.NDArray[np.bool_] | None) -> npt.NDArray[np.float32]:
    """A float32 copy of ``scores`` [B, n] with the ``masked`` entries set to ``-inf`` (never ranked).

    NaN raises ``DataError`` naming the row and column: a model that returns NaN is broken, and
    dropping its items silently would hide it.
    """
    s = np.array(scores, dtype=np.float32, ndmin=2)
    if s.size and np.isnan(s.min()):
        row, col = (int(x[0]) for x in np.nonzero(np.isnan(s)))
        raise DataError(f"scores contain NaN (first at row {row}, item {col})")
    if masked is not None:
        if masked.shape != s.shape:
            raise DataError(f"masked has shape {masked.shape}, scores {s.shape}")
        s[masked] = -np.inf
    return s


def full_ranking_ndcg(
    score: Callable[[I64], npt.NDArray[np.float32]],
    valid_user: npt.ArrayLike,
    valid_item: npt.ArrayLike,
    seen: sp.csr_matrix,
    k: int,
    *,
    batch_size: int = 1024,
) -> float:
    """Mean full-ranking NDCG@k (binary gains) over the users of the held-out pairs.

    The early-stopping metric of the torch models; it lives here, below models and evaluation, so
    that models need not import the evaluation package. It ranks exactly as
    :func:`explorec.evaluation.evaluate` does (``seen`` pairs masked, this module's top-k and tie rule)
    and equals its ``ndcg@k`` (a test checks it).

    Parameters
    ----------
    score : callable users int64[B] -> float32[B, n_items]
    valid_user, valid_item : int[n]
        The held-out pairs (duplicates count once).
    seen : csr [n_users, n_items]
        The pairs to mask (the history without the held-out pairs).
    k : int
    """
    vu = np.asarray(valid_user, dtype=np.int64)
    vi = np.asarray(valid_item, dtype=np.int64)
    n_items = seen.shape[1]
    keys = np.unique(vu * n_items + vi)
    users = np.unique(keys // n_items)
    if users.size == 0:
        raise DataError("full_ranking_ndcg: no held-out pairs")
    disc = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    ideal_prefix = np.concatenate([[0.0], np.cumsum(disc)])
    total = 0.0
    for start in range(0, users.size, batch_size):
        batch = users[start : start + batch_size]
        s = apply_mask(np.asarray(score(batch), dtype=np.float32), mask_matrix(batch, n_items, seen=seen))
        top = rank_top_k(s, k)  # [B, k]
        query = batch[:, None] * n_items + np.maximum(top, 0)
        pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
        hits = (keys[pos] == query) & (top >= 0)
        key_users = keys // n_items
        n_rel = np.searchsorted(key_users, batch, side="right") - np.searchsorted(
            key_users, batch, side="left"
        )
        total += float((hits @ disc / ideal_prefix[np.minimum(n_rel, k)]).sum())
    return total / users.size
