"""A slate shown in an experiment: the user's variant builds it, every other variant is asked how
likely it would have shown the same items at the same positions on the same candidates.

The stages are those of :mod:`explorec.service.slates` (the pipeline's candidates for a user with
history, popular and newest items for a cold user, then the deterministic fill); the variant's
policy (:func:`explorec.online.policies.variant_policy`) reads the online state of
``experiment/variant``. With an ``exploration`` share ``e`` the slate is the policy's with
probability ``e`` and greedy's otherwise, and each slot's propensity is the exact mixture
``e * p_policy + (1 - e) * p_greedy``. The other variants' probabilities of the shown slots (their
propensity matrices on their own candidate frame) are returned for the ``counterfactuals`` table;
fill slots, which no policy chose, get 1 for every variant.

A variant whose policy is linear (``linucb``, ``lints``, ``linucb-hybrid``) reads the frame's
``features`` column, built here for that variant (:func:`explorec.online.linear.linear_features`,
with the calibration of the variant's own state); the rows of the slots its policy chose are returned
to be stored before the impression (``slot_features``), which is what every replica's posterior
replays.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from explorec.columns import user_profile
from explorec.impressions import ImpressionRecord
from explorec.online.experiments import Experiment, Variant
from explorec.online.linear import linear_features
from explorec.online.policies import LINEAR_POLICIES, policy_name, variant_policy
from explorec.online.state import ArmView, OnlineState
from explorec.pipeline import candidate_frames
from explorec.policies import Policy
from explorec.policies.greedy import Greedy
from explorec.rerank import RerankContext
from explorec.service.served import ServedState
from explorec.service.slates import SlateRequest, _fill, policy_seed, slate_origins
from explorec.types import CandidateFrame, Slate


def build_experiment_slate(
    state: ServedState,
    online: OnlineState,
    experiment: Experiment,
    request: SlateRequest,
    *,
    seed: int = 0,
    versions: Callable[[str], Any] | None = None,
) -> tuple[ImpressionRecord, dict[str, list[float]], np.ndarray | None]:
    """(the impression record of the user's variant, ``{other variant: [p per shown slot]}``, the
    feature rows float64[policy slots, DIM] of a linear variant's slate or None).

    ``versions`` resolves a variant's ``model_version`` to the registry version that scores its
    candidates (None: the text model); without it every variant uses what the replica serves."""
    if versions is None:
        serving = state.served_version()

        def versions(name: str) -> Any:
            return None if name == "textknn" else serving

    models = {v.name: versions(v.model_version) for v in experiment.variants}
    variant = experiment.assign(request.user_id)
    rec_id = str(uuid.uuid4())
    now = time.time()
    k = request.k
    history = state.history(request.user_id)
    seen = [item for item, _ in history]
    excluded = set(int(i) for i in state.blocked_items())
    excluded.update(state.item_index[i] for i in request.exclude if i in state.item_index)
    if request.category is not None:
        excluded.update(state.outside_category(request.category).tolist())
    if request.exclude_seen:
        excluded.update(seen)
    pseed = policy_seed(rec_id, seed)
    views = {v.name: online.view(f"{experiment.name}/{v.name}") for v in experiment.variants}
    policies = {v.name: variant_policy(v.policy, views[v.name], seed=pseed) for v in experiment.variants}
    cold = not history
    for policy in policies.values():
        policy.cold_ = cold  # type: ignore[attr-defined]
    frames: dict[str, CandidateFrame] = {}
    own_frames: dict[str, CandidateFrame] = {}

    def frame_for(v: Variant) -> CandidateFrame:
        if v.name in own_frames:
            return own_frames[v.name]
        key = f"{v.rerank or ''}|{state.version_label(models[v.name])}"
        if key not in frames:
            frames[key] = _frame(state, request, v, policies[v.name], history, seen, excluded, models[v.name])
        frame = frames[key]
        if policy_name(v.policy) in LINEAR_POLICIES:
            frame = _with_features(state, frame, views[v.name], seen, cold)
        own_frames[v.name] = frame
        return frame

    items: list[int] = []
    scores: list[float] = []
    props: list[float] = []
    explored: list[bool] = []
    stages: list[str] = []
    slate: Slate | None = None
    rows: np.ndarray | None = None
    cross: dict[str, list[float]] = {v.name: [] for v in experiment.variants if v.name != variant.name}
    if state.n_items:
        frame = frame_for(variant)
        rng = np.random.default_rng([pseed, 7])
        slate = _select(variant, policies[variant.name], frame, k, rng)
        if frame.has("features"):
            row_of = {int(item): r for r, item in enumerate(frame.items.tolist())}
            features = np.asarray(frame.column("features"), dtype=np.float64)
            rows = features[[row_of[int(i)] for i in slate.items.tolist()]]
        origin = slate_origins(state, excluded) if cold else {}
        for item, score, prop, exp in zip(
            slate.items, slate.scores, slate.propensities, slate.explored, strict=True
        ):
            items.append(int(item))
            scores.append(float("nan") if cold else float(score))
            props.append(float(prop))
            explored.append(bool(exp))
            stages.append("exploration" if exp else (origin.get(int(item), "newest") if cold else "model"))
        for other in experiment.variants:
            if other.name != variant.name and len(slate):
                cross[other.name] = _probabilities(other, policies[other.name], frame_for(other), slate)
    n_policy = len(items)
    if len(items) < k and state.n_items:
        _fill(state, request, items, scores, props, explored, stages, excluded, seen)
    for values in cross.values():
        values.extend([1.0] * (len(items) - n_policy))
    note = f"only {len(items)} servable items for k={k}" if len(items) < k else ""
    full = Slate(
        np.array(items, dtype=np.int64),
        np.array(scores, dtype=np.float32),
        np.array(props, dtype=np.float64),
        np.array(explored, dtype=bool),
        policy=policies[variant.name].name,
        propensity_method=slate.propensity_method if slate is not None else "exact",
        note=note,
    )
    ids = state.item_id_array()
    record = ImpressionRecord.from_slate(
        full,
        recommendation_id=rec_id,
        user=request.user,
        user_id=request.user_id,
        item_ids=[str(ids[i]) for i in items],
        policy_params=policies[variant.name].get_params(),
        model_version=state.version_label(models[variant.name]),
        timestamp=now,
        stages=stages,
        experiment=experiment.name,
        variant=variant.name,
        k=k,
    )
    return record, cross, rows


def _with_features(
    state: ServedState, frame: CandidateFrame, view: ArmView, seen: list[int], cold: bool
) -> CandidateFrame:
    """``frame`` with the ``features`` column of a linear policy (calibrated with ``view``)."""
    items = frame.items
    vectors = state.vectors.view()
    profile = user_profile(vectors, np.array(seen, dtype=np.int64)) if seen else None
    scores = np.full(len(frame), np.nan) if cold else frame.scores.astype(np.float64)
    new = state.popularity.view()[items] <= 0
    return frame.with_columns(features=linear_features(vectors, items, profile, view.calibrate(scores), new))


def _frame(
    state: ServedState,
    request: SlateRequest,
    variant: Variant,
    policy: Policy,
    history: list[tuple[int, float]],
    seen: list[int],
    excluded: set[int],
    version: Any = None,
) -> CandidateFrame:
    settings = state.settings
    if history:
        model = state.model(version)
        (frame,) = candidate_frames(
            model,
            [0],
            k=request.k,
            history=state.user_interactions(request.user_id, history),
            exclude_seen=request.exclude_seen,
            exclude=np.array(sorted(excluded - set(seen)), dtype=np.int64),
            n_candidates=max(settings.n_candidates, request.k),
            rerank=variant.rerank,
            context=RerankContext(),
            policy=policy,
            item_vectors=model.item_vectors_,
        )
        return frame
    pool: list[int] = []
    for kind in ("popular", "newest"):
        for item in state.ranked(kind).tolist():
            if len(pool) >= settings.n_candidates:
                break
            if item not in excluded and item not in pool:
                pool.append(item)
    # rank-based placeholders: the policies exploit the head of the list and explore its tail
    pseudo = np.linspace(1.0, 0.0, num=max(len(pool), 1), dtype=np.float32)[: len(pool)]
    return CandidateFrame(np.array(pool, dtype=np.int64), pseudo)


def _select(
    variant: Variant, policy: Policy, frame: CandidateFrame, k: int, rng: np.random.Generator
) -> Slate:
    if variant.exploration is None:
        return policy.select(frame, k)
    e = float(variant.exploration)
    greedy = Greedy().select(frame, k)
    if rng.random() < e:
        slate = policy.select(frame, k)
        own = np.asarray(slate.propensities, dtype=np.float64)
    else:
        slate = greedy
        own = np.asarray(_lookup(policy.propensity_matrix(frame, k)[0], frame, slate), dtype=np.float64)
    same = (slate.items == greedy.items[: len(slate)]).astype(np.float64)
    props = e * np.asarray(own, dtype=np.float64) + (1.0 - e) * same
    return Slate(
        slate.items,
        slate.scores,
        props,
        same == 0.0,
        policy=policy.name,
        propensity_method=f"mixture:{e:g}[{slate.propensity_method}]",
        note=slate.note,
        policy_params=slate.policy_params,
    )


def _lookup(matrix: np.ndarray, frame: CandidateFrame, slate: Slate) -> list[float]:
    """``matrix[row of slate item j, j]`` per slot (0 for an item outside the frame or a column)."""
    row_of = {int(item): r for r, item in enumerate(frame.items.tolist())}
    out = []
    for j, item in enumerate(slate.items.tolist()):
        r = row_of.get(int(item))
        out.append(float(matrix[r, j]) if r is not None and j < matrix.shape[1] else 0.0)
    return out


def _probabilities(variant: Variant, policy: Policy, frame: CandidateFrame, slate: Slate) -> list[float]:
    """The probability that ``variant`` shows each of ``slate``'s items at its position on ``frame``."""
    k = len(slate)
    p_policy = _lookup(policy.propensity_matrix(frame, k)[0], frame, slate)
    if variant.exploration is None:
        return p_policy
    greedy = Greedy().select(frame, k)
    same = [
        1.0 if j < len(greedy) and int(greedy.items[j]) == int(i) else 0.0 for j, i in enumerate(slate.items)
    ]
    e = float(variant.exploration)
    return [e * p + (1.0 - e) * g for p, g in zip(p_policy, same, strict=True)]
