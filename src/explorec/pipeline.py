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
from explorec.errors import ConfigError, check_indices, check_positive_int
from explorec.models.base import Recommender
from explorec.rerank import RerankContext, Reranker, apply_rerankers, top_candidates
from explorec.types import ScoredItems, Slate

logger = logging.getLogger(__name__)


class Policy(Protocol):
    def select(self, candidates: ScoredItems, k: int, *, context: Any = None) -> Slate: ...


def recommend(
    model: Recommender,
    users: Sequence[int] | npt.NDArray[np.int64],
    *,
    k: int = 10,
    history: Interactions | None = None,
    exclude_seen: bool = True,
    seen: Interactions | None = None,
    exclude: Sequence[int] | npt.NDArray[np.int64] | None = None,
    n_candidates: int = 100,
    rerank: Reranker | Sequence[Reranker] | str | None = None,
    context: RerankContext | None = None,
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
    seen : Interactions, optional
        The pairs masked when ``exclude_seen`` (defaults to ``history``). The offline protocol passes
        :func:`explorec.evaluation.protocol.maskable_history` here so that repeat test items stay
        rankable while the model still reads the whole history.
    exclude : int[m], optional
        Items never to recommend (out of stock, already shown...).
    n_candidates : int
        How many top-scored items reach the re-rankers and the policy (at least ``k``).
    rerank : Reranker, sequence of Reranker or spec string (``"mmr:0.3,fair:0.5"``), optional
        Deterministic re-rankers, applied in order (see :mod:`explorec.rerank.spec`).
    context : RerankContext, optional
        Item-level side information for the re-rankers (categories, groups, popularity); each
        user's history is added to it here. Defaults to the item popularity of ``history``.
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
    hist = model.train_ if history is None else history
    u = check_indices("users", users, hist.n_users)
    scores = model.score(u, history=hist)  # [B, n_items]
    known = hist.to_csr()[u]  # [B, n_items] sparse: each user's known items
    masked = np.zeros(scores.shape, dtype=bool)
    if exclude_seen:
        if seen is not None and (seen.n_users, seen.n_items) != (hist.n_users, hist.n_items):
            raise ConfigError(
                f"seen has {seen.n_users} users x {seen.n_items} items, history "
                f"{hist.n_users} x {hist.n_items}; they must share vocabularies"
            )
        drop = known if seen is None else seen.to_csr()[u]
        masked[np.repeat(np.arange(u.size), np.diff(drop.indptr)), drop.indices] = True
    if exclude is not None and len(exclude):
        masked[:, np.asarray(exclude, dtype=np.int64)] = True
    if rerank is not None and context is None:
        context = RerankContext.from_data(hist)
    if rerank is None:
        pools = top_candidates(scores, n_candidates, masked=masked)
    else:
        # with a policy behind them, re-rankers order the whole pool so the policy can explore it
        pools = apply_rerankers(
            scores,
            rerank,
            n_candidates if policy is not None else k,
            item_vectors,
            context=context,
            histories=[known.indices[known.indptr[row] : known.indptr[row + 1]] for row in range(u.size)],
            exclude_seen=False,
            masked=masked,
            n_candidates=n_candidates,
        )
    slates = []
    for cands in pools:
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
