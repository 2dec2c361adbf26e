"""The one column builder: the frame columns that policies and re-rankers declare (``requires``).

:func:`build_columns` is what the pipeline (:func:`explorec.pipeline.candidate_frames`), the
simulator, the trade-off sweeps and a re-ranker called on its own use to turn item-level data (item
vectors, categories, groups, popularity, a model's uncertainty) into the named columns of a
:class:`~explorec.types.CandidateFrame`. It sits below the pipeline and the re-rankers (it imports
only numpy, scipy, :mod:`explorec.errors`, :mod:`explorec.types` and the popularity buckets), so both
can use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from explorec.errors import ConfigError, DataError
from explorec.types import CandidateFrame

FloatArray = npt.NDArray[np.float64]

#: the columns build_columns can build
BUILDABLE = ("features", "arm_features", "popularity", "uncertainty", "vectors", "categories", "groups")


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
    item_categories: Any = None,
    item_groups: npt.ArrayLike | None = None,
    n_popularity_buckets: int = 3,
    who: str = "the policy",
    sources: Mapping[str, str] | None = None,
) -> CandidateFrame:
    """``frame`` with the ``needed`` columns added (the one column builder of the pipeline, the
    simulator, the trade-off sweeps and the re-rankers); columns already present are kept.

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
    ``vectors``
        float[n, dim]: the items' rows of ``item_vectors`` (dtype kept; MMR and DPP normalise them),
        or, as the documented fallback when no vectors exist, their rows of ``item_categories``
        (cosine of category distributions).
    ``categories``
        float64[n, n_categories]: ``p(category | item)`` rows of ``item_categories`` (dense or
        scipy sparse, as :class:`~explorec.rerank.RerankContext` normalises them); calibration.
    ``groups``
        int64[n]: ``item_groups`` of the items (provider, brand, popularity bucket), or, without
        groups, the items' bucket among ``n_popularity_buckets`` buckets of equal interaction mass
        of ``item_counts`` (:func:`~explorec.rerank.popularity_buckets`); fairness.

    ``who`` names the component that needs the columns in error messages; ``sources`` maps a
    keyword (``item_vectors``, ``item_categories``, ``item_groups``, ``item_counts``) to how the
    caller's user provides it (a re-ranker says ``context.item_popularity``, ...).

    Raises
    ------
    ConfigError
        Naming the column that cannot be built and how to provide it.
    """
    cols: dict[str, npt.NDArray[Any]] = {}
    items = frame.items
    n = len(frame)
    how = {**_SOURCES, **(sources or {})}
    top = int(items.max()) if items.size else -1
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
                    f"{who} needs {how['item_counts']} for the frame column 'popularity' "
                    "(interactions per item); none was given"
                )
            pop = np.asarray(item_counts, dtype=np.float64).reshape(-1)
            if top >= pop.size:
                raise DataError(f"{who}: item {top} outside item_popularity ({pop.size} items)")
            cols[name] = pop[items]
        elif name == "uncertainty":
            if uncertainty is None:
                raise ConfigError(
                    "the policy needs the frame column 'uncertainty' (the std of each score): use a model "
                    "with score_uncertainty(users, history=...) (the torch models: sasrec, lm-adapter, "
                    "two-tower, with dropout > 0)"
                )
            cols[name] = np.asarray(uncertainty, dtype=np.float64).reshape(-1)[items]
        elif name == "vectors":
            cols[name] = _vector_rows(items, item_vectors, item_categories, who, how)
        elif name == "categories":
            if item_categories is None:
                raise ConfigError(
                    f"{who} needs {how['item_categories']} for the frame column 'categories'; none was given"
                )
            cols[name] = _category_rows(items, item_categories, who)
        elif name == "groups":
            if item_groups is not None:
                groups = np.asarray(item_groups, dtype=np.int64).reshape(-1)
            elif item_counts is not None:
                from explorec.rerank.base import popularity_buckets

                groups = popularity_buckets(item_counts, n_buckets=n_popularity_buckets)
            else:
                raise ConfigError(
                    f"{who} needs {how['item_groups']} or {how['item_counts']} for the frame column "
                    "'groups'; neither was given"
                )
            if top >= groups.size:
                raise DataError(f"{who}: item {top} outside item_groups ({groups.size} items)")
            cols[name] = groups[items]
        else:
            raise ConfigError(f"unknown frame column {name!r}; buildable columns: {', '.join(BUILDABLE)}")
    return frame.with_columns(**cols) if cols else frame


#: how each item-level source is provided, for the error messages (callers may say it their way)
_SOURCES: dict[str, str] = {
    "item_vectors": "item_vectors (float[n_items, dim], e.g. explorec.encoders.item_vectors)",
    "item_categories": "item_categories (p(category | item), e.g. RerankContext.from_data(train, catalog))",
    "item_groups": "item_groups (a provider or popularity bucket per item)",
    "item_counts": "item_counts (the history's interactions per item)",
}


def _vector_rows(
    items: npt.NDArray[np.int64], item_vectors: Any, item_categories: Any, who: str, how: Mapping[str, str]
) -> npt.NDArray[Any]:
    if item_vectors is None:
        if item_categories is None:
            raise ConfigError(
                f"{who} needs {how['item_vectors']} for the frame column 'vectors' or, as a fallback, "
                f"{how['item_categories']}; neither was given"
            )
        return _category_rows(items, item_categories, who)
    all_vecs = item_vectors if isinstance(item_vectors, np.ndarray) else np.asarray(item_vectors)
    if all_vecs.ndim != 2:
        raise DataError(f"{who}: item_vectors must be 2-d [n_items, dim], got shape {all_vecs.shape}")
    if items.size and int(items.max()) >= all_vecs.shape[0]:
        raise DataError(
            f"{who}: candidate item {int(items.max())} has no vector "
            f"(item_vectors has {all_vecs.shape[0]} rows)"
        )
    return np.asarray(np.take(all_vecs, items, axis=0))


def _category_rows(items: npt.NDArray[np.int64], item_categories: Any, who: str) -> FloatArray:
    if items.size and int(items.max()) >= item_categories.shape[0]:
        raise DataError(
            f"{who}: item {int(items.max())} outside item_categories ({item_categories.shape[0]} rows)"
        )
    rows = item_categories[items]
    return np.asarray(rows.toarray() if sp.issparse(rows) else rows, dtype=np.float64)
