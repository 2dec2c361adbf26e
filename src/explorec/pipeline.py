"""The one ``recommend()``: score -> mask -> candidates -> re-rank -> columns -> policy -> slate.

Every stage is visible here, in order, over one typed :class:`~explorec.types.CandidateFrame` per
user:

1. **score**: ``model.score(users, history=...)``, float32[B, n_items];
2. **mask**: :func:`explorec.ranking.mask_matrix` (seen items, ``exclude``), the one masking function;
3. **candidates**: the ``n_candidates`` best unmasked items per user
   (:func:`explorec.rerank.top_candidates`; ties: lower item index);
4. **re-rank** (optional): deterministic re-rankers reorder the frame; every item keeps its own score;
5. **columns**: the frame columns the policy declares (``policy.columns_needed()``) are built by
   :func:`build_columns`: ``features`` from item vectors, ``popularity`` from the history,
   ``uncertainty`` from a model with ``score_uncertainty``;
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


def user_profile(item_vectors: npt.ArrayLike, items: npt.ArrayLike) -> FloatArray:
    """The unit mean of the (unit) vectors of ``items``: a user's taste in the item-vector space.

    Zeros when ``items`` is empty (a cold user has no profile).
    """
    v = np.asarray(item_vectors, dtype=np.float64)
    idx = np.asarray(items, dtype=np.int64).reshape(-1)
    if idx.size == 0:
        return np.zeros(v.shape[1])
    rows = v[idx]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    mean = (rows / np.where(norms > 0, norms, 1.0)).mean(axis=0)
    norm = np.linalg.norm(mean)
    return np.asarray(mean / norm if norm > 0 else mean, dtype=np.float64)


def build_columns(
    frame: CandidateFrame,
    needed: Sequence[str],
    *,
    item_vectors: npt.ArrayLike | None = None,
    profile: npt.ArrayLike | None = None,
    item_counts: npt.ArrayLike | None = None,
    uncertainty: npt.ArrayLike | None = None,
    arm: npt.ArrayLike | None = None,
    score_feature: npt.ArrayLike | None = None,
) -> CandidateFrame:
    """``frame`` with the ``needed`` columns added (the one column builder of the pipeline and the
    simulator); columns already present are kept.

    Columns (see :data:`explorec.types.COLUMNS`):

    ``features``
        float64[n, 5 + dim]: ``[1, s_i, new_i, cos_i, new_i * cos_i, v_i * q_u]`` with ``s_i`` the
        score feature (default: the frame's own score), ``new_i = 1`` for an item without
        interactions in ``item_counts`` (no collaborative signal), ``v_i`` the item's unit vector,
        ``q_u`` the user's ``profile`` (:func:`user_profile`) and ``cos_i = v_i . q_u``.
        Needs ``item_vectors``.
    ``arm_features``
        float64[n, d_arm]: the per-item part of the hybrid LinUCB, ``arm`` repeated for every row
        (default ``[1]``: each item learns its own bias).
    ``popularity``
        float64[n]: ``item_counts`` of the items. Needs ``item_counts``.
    ``uncertainty``
        float64[n]: the standard deviation of each item's score, from ``uncertainty``
        (float[n_items], one user's row of ``model.score_uncertainty``).

    Raises
    ------
    ConfigError
        Naming the column that cannot be built and how to provide it.
    """
    cols: dict[str, npt.NDArray[np.float64]] = {}
    items = frame.items
    n = len(frame)
    for name in needed:
        if frame.has(name) or name in cols:
            continue
        if name == "features":
            if item_vectors is None:
                raise ConfigError(
                    "the policy needs the frame column 'features' (feature rows built from item vectors): "
                    "pass item_vectors=float[n_items, dim] (e.g. explorec.encoders.item_vectors(catalog))"
                )
            v = np.asarray(item_vectors, dtype=np.float64)
            if v.ndim != 2 or (items.size and items.max() >= v.shape[0]):
                raise DataError(f"item_vectors has shape {v.shape}; item {int(items.max())} has no vector")
            rows = v[items]  # [n, dim]
            norms = np.linalg.norm(rows, axis=1, keepdims=True)
            rows = rows / np.where(norms > 0, norms, 1.0)
            q = np.zeros(v.shape[1]) if profile is None else np.asarray(profile, dtype=np.float64)
            prod = rows * q[None, :]  # [n, dim]
            cos = prod.sum(axis=1, keepdims=True)  # [n, 1]
            counts = np.zeros(0) if item_counts is None else np.asarray(item_counts, dtype=np.float64)
            new = np.zeros((n, 1))
            if counts.size:
                new = (counts[items] == 0).astype(np.float64)[:, None]
            s = frame.scores if score_feature is None else np.asarray(score_feature, dtype=np.float64)
            cols[name] = np.hstack(
                [np.ones((n, 1)), np.asarray(s, dtype=np.float64)[:, None], new, cos, new * cos, prod]
            )
        elif name == "arm_features":
            a = np.ones(1) if arm is None else np.asarray(arm, dtype=np.float64).reshape(-1)
            cols[name] = np.array(np.broadcast_to(a, (n, a.size)))
        elif name == "popularity":
            if item_counts is None:
                raise ConfigError(
                    "the frame column 'popularity' needs item_counts (the history's interactions per item)"
                )
            cols[name] = np.asarray(item_counts, dtype=np.float64)[items]
        elif name == "uncertainty":
            if uncertainty is None:
                raise ConfigError(
                    "the policy needs the frame column 'uncertainty' (the std of each score): use a model "
                    "with score_uncertainty(users, history=...) (the torch models: sasrec, lm-adapter, "
                    "two-tower, with dropout > 0)"
                )
            cols[name] = np.asarray(uncertainty, dtype=np.float64).reshape(-1)[items]
        else:
            raise ConfigError(
                f"unknown frame column {name!r}; buildable columns: features, arm_features, popularity, "
                "uncertainty"
            )
    return frame.with_columns(**cols) if cols else frame


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
    known = hist.to_csr()  # [n_users, n_items]: each user's known items
    if exclude_seen and seen is not None and (seen.n_users, seen.n_items) != (hist.n_users, hist.n_items):
        raise ConfigError(
            f"seen has {seen.n_users} users x {seen.n_items} items, history "
            f"{hist.n_users} x {hist.n_items}; they must share vocabularies"
        )
    drop = None if not exclude_seen else (known if seen is None else seen.to_csr())
    masked = mask_matrix(u, scores.shape[1], seen=drop, exclude=exclude)
    frames = top_candidates(scores, n_candidates, masked=masked)
    histories = [known.indices[known.indptr[user] : known.indptr[user + 1]] for user in u]
    if rerank is not None:
        chain = as_chain(rerank)
        base = RerankContext.from_data(hist) if context is None else context
        # with a policy behind them, re-rankers order the whole pool so the policy can explore it
        size = n_candidates if policy is not None else k
        frames = [
            chain.rerank(f, size, item_vectors=item_vectors, context=base.with_history(h))
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
        Item-level side information for the re-rankers (categories, groups, popularity); each
        user's history is added to it here. Defaults to the item popularity of ``history``.
    policy : Policy, optional
        The exploration policy; when None, :class:`~explorec.policies.greedy.Greedy` (the first
        ``k`` of the frame, propensity 1). The frame columns it declares are built here (see
        :func:`build_columns`): linear policies need ``item_vectors``, ``uncertainty`` needs a
        model with ``score_uncertainty``.
    item_vectors : float32[n_items, dim], optional
        Item vectors for similarity-based re-rankers and the linear policies' features.
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
