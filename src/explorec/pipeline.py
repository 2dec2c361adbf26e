"""The one ``recommend()`` function: score -> mask seen/excluded -> candidates -> rerank -> policy.

Every stage is visible here, in order. The policy is the last and only random stage, so the
propensities in the returned slates describe exactly what was shown.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from explorec.data.interactions import Interactions
from explorec.errors import ConfigError, check_positive_int
from explorec.models.base import Recommender
from explorec.types import ScoredItems, Slate

logger = logging.getLogger(__name__)


class Reranker(Protocol):
    def rerank(
        self,
        candidates: ScoredItems,
        k: int,
        *,
        item_vectors: npt.NDArray[np.float32] | None = None,
        context: Any = None,
    ) -> ScoredItems: ...


class Policy(Protocol):
    def select(self, candidates: ScoredItems, k: int, *, context: Any = None) -> Slate: ...


def candidate_lists(
    scores: npt.NDArray[np.float32],
    n_candidates: int,
    *,
    masked: npt.NDArray[np.bool_] | None = None,
) -> list[ScoredItems]:
    """Top ``n_candidates`` items per row, best first, skipping masked items (ties: lower index first)."""
    s = scores.astype(np.float32, copy=True)
    if masked is not None:
        s[masked] = -np.inf
    n = min(n_candidates, s.shape[1])
    part = (
        np.argpartition(-s, n - 1, axis=1)[:, :n]
        if n < s.shape[1]
        else np.tile(np.arange(s.shape[1]), (s.shape[0], 1))
    )
    out = []
    for row, idx in zip(s, part, strict=True):
        vals = row[idx]
        order = np.lexsort((idx, -vals))
        idx, vals = idx[order], vals[order]
        keep = np.isfinite(vals)
        out.append(ScoredItems(idx[keep].astype(np.int64), vals[keep].astype(np.float32)))
    return out


def seen_mask(users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.bool_]:
    """bool[B, n_items]: True where the user has an interaction in ``history``."""
    csr = history.to_csr()[users]
    mask = np.zeros((users.size, history.n_items), dtype=bool)
    rows = np.repeat(np.arange(users.size), np.diff(csr.indptr))
    mask[rows, csr.indices] = True
    return mask


def recommend(
    model: Recommender,
    users: Sequence[int] | npt.NDArray[np.int64],
    *,
    k: int = 10,
    history: Interactions | None = None,
    exclude_seen: bool = True,
    exclude: Sequence[int] | npt.NDArray[np.int64] | None = None,
    n_candidates: int = 100,
    rerankers: Sequence[Reranker] = (),
    policy: Policy | None = None,
    item_vectors: npt.NDArray[np.float32] | None = None,
) -> list[Slate]:
    """Recommend ``k`` items to each user.

    Parameters
    ----------
    model : Recommender
        A fitted model.
    users : int[B]
        Internal user indices.
    k : int
        Slate length.
    history : Interactions, optional
        What is known about the users (defaults to the model's training data); seen items are
        masked when ``exclude_seen``.
    exclude : int[m], optional
        Items never to recommend (out of stock, already shown...).
    n_candidates : int
        How many top-scored items reach the re-rankers and the policy (at least ``k``).
    rerankers : sequence of Reranker
        Applied in order; deterministic.
    policy : Policy, optional
        The exploration policy; when None, the slate is the greedy top-``k`` with propensity 1.
    item_vectors : float32[n_items, dim], optional
        Item vectors for similarity-based re-rankers.

    Returns
    -------
    list of Slate, one per user.
    """
    k = check_positive_int("k", k)
    n_candidates = check_positive_int("n_candidates", n_candidates)
    if n_candidates < k:
        raise ConfigError(f"n_candidates ({n_candidates}) must be >= k ({k})")
    u = np.asarray(users, dtype=np.int64).reshape(-1)
    hist = model.train_ if history is None else history
    scores = model.score(u, history=hist)  # [B, n_items]
    masked = seen_mask(u, hist) if exclude_seen else np.zeros(scores.shape, dtype=bool)
    if exclude is not None and len(exclude):
        masked[:, np.asarray(exclude, dtype=np.int64)] = True
    slates = []
    # with a policy behind them, re-rankers order the whole pool so the policy can explore it
    rerank_k = n_candidates if policy is not None else k
    for cands in candidate_lists(scores, n_candidates, masked=masked):
        for reranker in rerankers:
            cands = reranker.rerank(cands, min(rerank_k, len(cands)), item_vectors=item_vectors)
        if policy is not None:
            slate = policy.select(cands, k)
        else:
            # candidates come sorted by score, re-ranked lists in their re-ranked order
            top = ScoredItems(cands.items[:k], cands.scores[:k])
            note = "" if len(top) == k else f"only {len(top)} candidates available for k={k}"
            slate = Slate(
                top.items,
                top.scores,
                np.ones(len(top)),
                policy="greedy",
                propensity_method="exact",
                note=note,
            )
        if slate.note:
            logger.info("recommend: %s", slate.note)
        slates.append(slate)
    return slates
