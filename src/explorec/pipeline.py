"""The one ``recommend()``: score -> mask -> candidates -> re-rank -> columns -> policy -> slate.

Every stage is visible here, in order, over one typed :class:`~explorec.types.CandidateFrame` per
user:

1. **score**: ``model.score(users, history=...)``, float32[B, n_items];
2. **mask**: :func:`explorec.ranking.mask_matrix` (seen items, ``exclude``), the one masking function;
3. **candidates**: the ``n_candidates`` best unmasked items per user
   (:func:`explorec.rerank.top_candidates`; ties: lower item index);
4. **re-rank** (optional): the frame columns the re-rankers declare (``columns_needed()``:
   ``vectors`` for MMR/DPP, ``categories`` for calibration, ``groups`` for fairness, ``popularity``
   for debiasing) are built by :func:`~explorec.columns.build_columns` from ``item_vectors`` and the
   ``RerankContext`` (:meth:`~explorec.rerank.Reranker.prepare`); then the deterministic re-rankers
   reorder the frame, every item keeping its own score;
5. **columns**: the frame columns the policy declares (``policy.columns_needed()``) are built by
   the same :func:`~explorec.columns.build_columns`: ``features`` from item vectors, ``popularity``
   from the history, ``uncertainty`` from a model with ``score_uncertainty`` (columns a re-ranker
   already built are kept);
6. **policy**: ``policy.select(frame, k) -> Slate``, the last and only random stage, so the
   propensities in the slate describe exactly what was shown.

A slate converts losslessly into the impression record that logs store
(:meth:`explorec.impressions.ImpressionRecord.from_slate`). :func:`candidate_frames` runs stages
1-5 and returns the frames, for callers that keep them (e.g. to give a linear policy the shown
feature rows with ``feedback_for_slate(..., frame=frame, policy=policy)``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from explorec.columns import build_columns, user_profile
from explorec.data.interactions import Interactions
from explorec.errors import ConfigError, DataError, check_indices, check_positive_int
from explorec.models.base import Recommender
from explorec.policies.base import Policy
from explorec.policies.greedy import Greedy
from explorec.ranking import mask_matrix
from explorec.rerank import RerankContext, Reranker, as_chain, top_candidates
from explorec.types import CandidateFrame, Slate

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


def candidate_frames(
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
    uncertainty_samples: int = 20,
) -> list[CandidateFrame]:
    """Stages 1-5 of :func:`recommend`: one frame per user, ready for ``policy.select(frame, k)``.

    Parameters are those of :func:`recommend`; ``policy`` only decides which columns are built and
    whether re-rankers order the whole pool (with a policy) or return the top ``k`` (without).
    """
    model.check_fitted()
    k = check_positive_int("k", k)
    n_candidates = check_positive_int("n_candidates", n_candidates)
    if n_candidates < k:
        raise ConfigError(f"n_candidates ({n_candidates}) must be >= k ({k})")
    hist = model.train_ if history is None else history
    u = check_indices("users", users, hist.n_users)
    scores = model.score(u, history=hist)  # [B, n_items]
    if exclude_seen and seen is not None and (seen.n_users, seen.n_items) != (hist.n_users, hist.n_items):
        raise ConfigError(
            f"seen has {seen.n_users} users x {seen.n_items} items, history "
            f"{hist.n_users} x {hist.n_items}; they must share vocabularies"
        )
    if u.size == 1:
        # one user (a served request): the known items straight from the event arrays, masked
        # directly; building the users x items sparse matrix would cost more than the whole stage
        histories = [_user_items(hist, int(u[0]))]
        masked = mask_matrix(u, scores.shape[1], exclude=exclude)
        if exclude_seen:
            if hist.n_items != scores.shape[1]:
                raise DataError(f"mask: seen has {hist.n_items} items, scores {scores.shape[1]}")
            masked[0, histories[0] if seen is None else _user_items(seen, int(u[0]))] = True
    else:
        known = hist.to_csr()  # [n_users, n_items]: each user's known items
        drop = None if not exclude_seen else (known if seen is None else seen.to_csr())
        masked = mask_matrix(u, scores.shape[1], seen=drop, exclude=exclude)
        histories = [known.indices[known.indptr[user] : known.indptr[user + 1]] for user in u]
    frames = top_candidates(scores, n_candidates, masked=masked)
    if rerank is not None:
        chain = as_chain(rerank)
        base = RerankContext.from_data(hist) if context is None else context
        # the columns the re-rankers declare, built once per frame from item_vectors and the context
        # (build_columns; a ConfigError names a column that cannot be built and how to provide it)
        frames = [chain.prepare(f, item_vectors=item_vectors, context=base) for f in frames]
        # with a policy behind them, re-rankers order the pool so the policy can explore it: as many
        # leading rows as the policy's slate law depends on (policy.ranks_read), the rest after them
        if policy is None:
            frames = [
                chain.rerank(f, k, context=base.with_history(h))
                for f, h in zip(frames, histories, strict=True)
            ]
        else:
            frames = [
                _rerank_pool(chain, f, n_candidates, policy.ranks_read(k, n_candidates), base.with_history(h))
                for f, h in zip(frames, histories, strict=True)
            ]
    if policy is None or not policy.columns_needed():
        return frames
    needed = policy.columns_needed()
    counts = hist.item_counts().astype(np.float64)
    std = None
    if "uncertainty" in needed:
        scorer = getattr(model, "score_uncertainty", None)
        if scorer is None:
            raise ConfigError(
                f"policy {policy.name!r} needs the frame column 'uncertainty', but {type(model).__name__} "
                "has no score_uncertainty; use a torch model (sasrec, lm-adapter, two-tower) with dropout > 0"
            )
        std = np.asarray(scorer(u, history=hist, n_samples=uncertainty_samples)[1], dtype=np.float64)
    out = []
    for row, (frame, h) in enumerate(zip(frames, histories, strict=True)):
        profile = None if item_vectors is None else user_profile(item_vectors, h)
        out.append(
            build_columns(
                frame,
                needed,
                item_vectors=item_vectors,
                profile=profile,
                item_counts=counts,
                uncertainty=None if std is None else std[row],
            )
        )
    return out


def _user_items(hist: Interactions, user: int) -> npt.NDArray[np.int64]:
    """``user``'s distinct known items in ``hist``, ascending: row ``user`` of ``hist.to_csr()``."""
    return np.unique(hist.item[hist.user == user]).astype(np.int64)


def _rerank_pool(
    chain: Reranker, frame: CandidateFrame, size: int, depth: int, context: RerankContext
) -> CandidateFrame:
    """``frame`` re-ranked for a policy: ``chain.rerank(frame, size)``, or, when the policy reads only
    the first ``depth`` rows, those ordered by ``chain`` and then the other unmasked rows.

    With ``depth`` below the pool's size the remaining rows follow in their previous (score) order;
    only policies whose slate law ignores the order beyond ``depth`` ask for that
    (:meth:`~explorec.policies.base.Policy.ranks_read`). A re-scoring chain orders the whole pool,
    so every row carries its ``rerank_score``.
    """
    pool = frame.unmasked()
    rescoring = any(getattr(stage, "rescoring", False) for stage in getattr(chain, "stages", (chain,)))
    if depth >= len(pool) or rescoring:
        return chain.rerank(frame, size, context=context)
    head = chain.rerank(pool, depth, context=context)
    rows = _rows_of(pool.items, head.items)
    others = np.ones(len(pool), dtype=bool)  # the pool's rows the chain did not place, in order
    others[rows] = False
    # the pool's rows keep the columns the chain prepared (a non-re-scoring chain adds no others)
    return pool.take(np.concatenate([rows, np.flatnonzero(others)]))


def _rows_of(items: npt.NDArray[np.int64], wanted: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Row of each of ``wanted`` in ``items`` (distinct; every wanted item is present)."""
    order = np.argsort(items, kind="stable")
    return order[np.searchsorted(items, wanted, sorter=order)].astype(np.int64)


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
    uncertainty_samples: int = 20,
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
        Item-level side information from which the re-rankers' declared frame columns are built
        (``categories``, ``groups``, ``popularity``); each user's history is added to it here (for
        calibration's target). Defaults to :meth:`RerankContext.from_data` of ``history``
        (popularity, and popularity buckets as groups).
    policy : Policy, optional
        The exploration policy; when None, :class:`~explorec.policies.greedy.Greedy` (the first
        ``k`` of the frame, propensity 1). The frame columns it declares are built here (see
        :func:`build_columns`): linear policies need ``item_vectors``, ``uncertainty`` needs a
        model with ``score_uncertainty``.
    item_vectors : float32[n_items, dim], optional
        Item vectors: the ``vectors`` column of similarity-based re-rankers (MMR, DPP) and the
        ``features`` column of the linear policies.
    uncertainty_samples : int
        Stochastic passes of ``score_uncertainty`` when the policy needs the ``uncertainty`` column.

    Returns
    -------
    list of Slate, one per user: items in display order with their own scores, propensities,
    explored flags, the policy's name and parameters, and the propensity method.
    """
    frames = candidate_frames(
        model,
        users,
        k=k,
        history=history,
        exclude_seen=exclude_seen,
        seen=seen,
        exclude=exclude,
        n_candidates=n_candidates,
        rerank=rerank,
        context=context,
        policy=policy,
        item_vectors=item_vectors,
        uncertainty_samples=uncertainty_samples,
    )
    chooser = Greedy() if policy is None else policy
    slates = []
    for frame in frames:
        slate = chooser.select(frame, k)
        if slate.note:
            logger.info("recommend: %s", slate.note)
        slates.append(slate)
    return slates
