"""Experiments: variants, salted-hash assignment, storage, and the report with off-policy estimates.

An experiment splits users between variants (model, policy and parameters, re-ranker, exploration
share) by a salted SHA-256 hash of the user id: the same user gets the same variant on every request,
replica and restart, and the shares hold up to sampling error. Definitions live in the store
(``experiments`` table), so every replica serves the same split.

For every slate shown in an experiment the service also stores, per *other* variant, the probability
that that variant would have put each shown item at its position given the same candidates
(``counterfactuals`` table). That is what lets the report estimate a variant's value from the
others' traffic (IPS, SNIPS and DR of :mod:`explorec.evaluation.ope`, with the logged propensities
as the logging policy's), before the variant has traffic of its own.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import norm

from explorec.errors import ConfigError
from explorec.impressions import ImpressionRecord

#: what shares must sum to, within this tolerance
SHARE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment.

    Attributes
    ----------
    name : str
    share : float
        Share of the users assigned to it.
    policy : str
        Policy spec (:data:`explorec.online.policies.VARIANT_POLICIES`).
    rerank : str or None
        Re-ranker spec (``mmr:0.3``...) or None.
    model_version : str
        The model that scores the candidates: ``serving`` (the version the replica serves now),
        ``textknn`` (the text model) or a registry version's name (that version, whatever serves).
    exploration : float or None
        With a value ``e``, the slate comes from ``policy`` with probability ``e`` and from greedy on
        the same candidates otherwise (propensities are the exact mixture); None: always ``policy``.
    """

    name: str
    share: float
    policy: str = "greedy"
    rerank: str | None = None
    model_version: str = "serving"
    exploration: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "share": self.share,
            "policy": self.policy,
            "rerank": self.rerank,
            "model_version": self.model_version,
            "exploration": self.exploration,
        }


@dataclass(frozen=True)
class Experiment:
    """An experiment definition: variants with shares summing to 1, the control, the hash salt."""

    name: str
    variants: tuple[Variant, ...]
    control: str
    salt: str
    active: bool = True
    created_at: float = 0.0
    updated_at: float = 0.0
    _bounds: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_bounds", tuple(np.cumsum([v.share for v in self.variants]).tolist()))

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)

    def assign(self, user_id: str) -> Variant:
        """The user's variant: ``sha256(salt:user_id)`` as a number in [0, 1) against the shares."""
        u = hash_unit(self.salt, user_id)
        for variant, bound in zip(self.variants, self._bounds, strict=True):
            if u < bound:
                return variant
        return self.variants[-1]  # u at the rounding edge of a sum that is 1 within tolerance

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "variants": [v.to_dict() for v in self.variants],
            "control": self.control,
            "salt": self.salt,
            "active": self.active,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Experiment:
        return cls(
            name=str(data["name"]),
            variants=tuple(Variant(**_variant_fields(v)) for v in data["variants"]),
            control=str(data["control"]),
            salt=str(data["salt"]),
            active=bool(data.get("active", True)),
            created_at=float(data.get("created_at", 0.0)),
            updated_at=float(data.get("updated_at", 0.0)),
        )


def _variant_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A stored variant's fields; definitions stored before ``model_version`` called it ``model``."""
    fields = dict(raw)
    if "model" in fields:
        fields.setdefault("model_version", fields.pop("model"))
    return fields


def hash_unit(salt: str, user_id: str) -> float:
    """A uniform number in [0, 1) from the first 8 bytes of ``sha256(salt + ':' + user_id)``."""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def make_experiment(
    name: str,
    variants: Sequence[Variant],
    *,
    control: str | None = None,
    salt: str | None = None,
    active: bool = True,
    models: Sequence[str] = ("serving",),
) -> Experiment:
    """A validated experiment; ``ConfigError`` naming the field (``variants[i].share`` ...) otherwise.

    Parameters
    ----------
    models : sequence of str
        The model versions a variant may name.
    """
    from explorec.online.policies import check_variant_policy

    if len(variants) < 1:
        raise ConfigError("variants: an experiment needs at least one variant")
    names = [v.name for v in variants]
    for j, v in enumerate(variants):
        if names.count(v.name) > 1:
            raise ConfigError(f"variants[{j}].name: variant {v.name!r} appears twice")
        if not 0.0 <= v.share <= 1.0 or not math.isfinite(v.share):
            raise ConfigError(f"variants[{j}].share: must lie in [0, 1], got {v.share!r}")
        if v.model_version not in models:
            known = ", ".join(list(models)[:12]) + (", ..." if len(models) > 12 else "")
            raise ConfigError(
                f"variants[{j}].model_version: unknown model version {v.model_version!r}; known: {known}"
            )
        try:
            check_variant_policy(v.policy)
        except ConfigError as exc:
            raise ConfigError(f"variants[{j}].policy: {exc}") from None
        if v.exploration is not None and not 0.0 <= v.exploration <= 1.0:
            raise ConfigError(f"variants[{j}].exploration: must lie in [0, 1], got {v.exploration!r}")
        if v.rerank is not None:
            from explorec.rerank.spec import parse_rerank_spec

            try:
                parse_rerank_spec(v.rerank)
            except ConfigError as exc:
                raise ConfigError(f"variants[{j}].rerank: {exc}") from None
    total = float(sum(v.share for v in variants))
    if abs(total - 1.0) > SHARE_TOLERANCE:
        shares = " + ".join(f"{v.share:g}" for v in variants)
        raise ConfigError(f"variants: the shares must sum to 1, got {shares} = {total:g}")
    chosen = control if control is not None else variants[0].name
    if chosen not in names:
        raise ConfigError(f"control: {chosen!r} is not a variant; variants: {', '.join(names)}")
    now = time.time()
    return Experiment(name, tuple(variants), chosen, salt if salt is not None else name, active, now, now)


# ---------------------------------------------------------------------- storage
def save_experiment(store: Any, experiment: Experiment) -> Experiment:
    """Insert or replace the definition (keeping its first ``created_at``); returns what is stored."""
    from sqlalchemy import insert, select, update

    from explorec.store.tables import Experiment as Row

    with store.engine.execution_options(explorec_write=True).begin() as conn:
        old = conn.execute(select(Row.created_at).where(Row.name == experiment.name)).scalar_one_or_none()
        created = float(old) if old is not None else experiment.created_at
        stored = Experiment(
            experiment.name,
            experiment.variants,
            experiment.control,
            experiment.salt,
            experiment.active,
            created,
            experiment.updated_at,
        )
        values = {"definition": stored.to_dict(), "updated_at": stored.updated_at}
        if old is None:
            conn.execute(insert(Row).values(name=stored.name, created_at=created, **values))
        else:
            conn.execute(update(Row).where(Row.name == stored.name).values(**values))
    return stored


def load_experiment(store: Any, name: str) -> Experiment | None:
    from sqlalchemy import select

    from explorec.store.tables import Experiment as Row

    with store.engine.connect() as conn:
        data = conn.execute(select(Row.definition).where(Row.name == name)).scalar_one_or_none()
    return None if data is None else Experiment.from_dict(data)


def save_counterfactual(
    store: Any, record: ImpressionRecord, propensities: Mapping[str, Sequence[float]]
) -> None:
    """Store, for a slate shown in an experiment, each other variant's probability of each shown slot."""
    from sqlalchemy import insert

    from explorec.store.tables import Counterfactual

    with store.engine.execution_options(explorec_write=True).begin() as conn:
        conn.execute(
            insert(Counterfactual).values(
                recommendation_id=record.recommendation_id,
                experiment=record.experiment,
                variant=record.variant,
                propensities={k: [float(p) for p in v] for k, v in propensities.items()},
                timestamp=float(record.timestamp),
            )
        )


def load_counterfactuals(store: Any, experiment: str) -> dict[str, dict[str, list[float]]]:
    """``{recommendation_id: {variant: [p per slot]}}`` of the experiment's slates."""
    from sqlalchemy import select

    from explorec.store.tables import Counterfactual

    stmt = select(Counterfactual.recommendation_id, Counterfactual.propensities).where(
        Counterfactual.experiment == experiment
    )
    with store.engine.connect() as conn:
        return {str(r): dict(p) for r, p in conn.execute(stmt)}


# ---------------------------------------------------------------------- the report
def wilson_interval(clicks: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of a binomial rate (Wilson 1927); (0, 1) when ``n == 0``."""
    if n <= 0:
        return 0.0, 1.0
    z = float(norm.ppf(1 - alpha / 2))
    p = clicks / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_test(c1: float, n1: float, c0: float, n0: float) -> tuple[float, float]:
    """(difference ``c1/n1 - c0/n0``, two-sided p-value of the pooled z-test)."""
    if n1 <= 0 or n0 <= 0:
        return float("nan"), float("nan")
    p1, p0 = c1 / n1, c0 / n0
    pooled = (c1 + c0) / (n1 + n0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    if se == 0:
        return p1 - p0, 1.0 if p1 == p0 else 0.0
    return p1 - p0, float(2 * norm.sf(abs(p1 - p0) / se))


def experiment_report(
    experiment: Experiment,
    records: Sequence[ImpressionRecord],
    rewards: Sequence[np.ndarray],
    counterfactuals: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    alpha: float = 0.05,
    n_bootstrap: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """Per variant: slates, impressions (shown slots), clicks, click rate per impression with its
    Wilson interval, difference to control with the two-proportion z-test p-value, and the
    off-policy estimates (IPS, SNIPS, DR, with bootstrap intervals) of its click rate per impression
    from the *other* variants' slates.

    ``records``/``rewards`` are the experiment's impressions and their per-slot rewards (see
    :func:`explorec.service.log.slot_rewards`).
    """
    by_variant: dict[str, list[int]] = {v.name: [] for v in experiment.variants}
    for j, record in enumerate(records):
        if record.experiment == experiment.name and record.variant in by_variant:
            by_variant[record.variant].append(j)
    counts: dict[str, tuple[int, int, float]] = {}
    for name, rows in by_variant.items():
        slots = int(sum(len(records[j]) for j in rows))
        clicks = float(sum(float(np.sum(rewards[j])) for j in rows))
        counts[name] = (len(rows), slots, clicks)
    control = counts[experiment.control]
    variants: list[dict[str, Any]] = []
    for v in experiment.variants:
        n_slates, slots, clicks = counts[v.name]
        low, high = wilson_interval(clicks, slots, alpha)
        diff, p_value = two_proportion_test(clicks, slots, control[2], control[1])
        entry: dict[str, Any] = {
            **v.to_dict(),
            "slates": n_slates,
            "impressions": slots,
            "clicks": clicks,
            "click_rate": clicks / slots if slots else None,
            "click_rate_ci": [low, high] if slots else None,
            "clicks_per_1000": 1000 * clicks / slots if slots else None,
            "diff_to_control": None if v.name == experiment.control or not slots else diff,
            "p_value": None if v.name == experiment.control or not slots else p_value,
            "off_policy": off_policy_estimate(
                v.name, experiment, records, rewards, counterfactuals, by_variant, alpha, n_bootstrap, seed
            ),
        }
        variants.append(entry)
    return {
        "name": experiment.name,
        "control": experiment.control,
        "salt": experiment.salt,
        "active": experiment.active,
        "confidence": 1 - alpha,
        "variants": variants,
    }


def off_policy_estimate(
    target: str,
    experiment: Experiment,
    records: Sequence[ImpressionRecord],
    rewards: Sequence[np.ndarray],
    counterfactuals: Mapping[str, Mapping[str, Sequence[float]]],
    by_variant: Mapping[str, Sequence[int]],
    alpha: float,
    n_bootstrap: int,
    seed: int,
) -> dict[str, Any] | None:
    """IPS/SNIPS/DR of ``target``'s click rate per impression from the other variants' slates.

    Each logged slot ``(item a, position l)`` of another variant enters with the logging
    propensity ``pi_b(a, l)`` it was shown with and ``pi_e(a, l)``, the target's probability of the
    same item at the same position on the same candidates. The estimators see a two-action log
    (action 0: the logged item; action 1: anything else, with ``1 - pi_e``), which gives IPS and
    SNIPS exactly; DR uses a per-position mean reward of the log as its reward model.
    """
    from explorec.evaluation.ope import BanditLog, estimate

    rows = [
        j
        for name, js in by_variant.items()
        if name != target
        for j in js
        if target in counterfactuals.get(records[j].recommendation_id, {})
    ]
    if not rows:
        return None
    pe: list[float] = []
    pb: list[float] = []
    pos: list[int] = []
    rew: list[float] = []
    slate: list[int] = []
    for s, j in enumerate(rows):
        probs = counterfactuals[records[j].recommendation_id][target]
        rec = records[j]
        for p in range(len(rec)):
            pe.append(float(probs[p]))
            pb.append(float(rec.propensities[p]))
            pos.append(p)
            rew.append(float(rewards[j][p]))
            slate.append(s)
    n = len(pe)
    length = max(pos) + 1
    log = BanditLog(
        np.zeros(n, dtype=np.int64),
        np.asarray(rew),
        np.asarray(pb),
        np.asarray(pos, dtype=np.int64),
        2,
        length,
        slate_id=np.asarray(slate, dtype=np.int64),
        source=f"experiment {experiment.name} (slates of variants other than {target})",
    )
    e = np.clip(np.asarray(pe), 0.0, 1.0)
    dist = np.zeros((n, 2, length))
    dist[:, 0, :] = e[:, None]
    dist[:, 1, :] = 1.0 - e[:, None]
    mean_by_pos = np.array([log.reward[log.position == p].mean() for p in range(length)])
    q = np.repeat(mean_by_pos[None, None, :], 2, axis=1).repeat(n, axis=0)  # [n, 2, L]
    results = estimate(
        log,
        dist,
        reward_hat=q,
        estimators=("ips", "snips", "dr"),
        n_bootstrap=n_bootstrap,
        alpha=alpha,
        seed=seed,
    )
    # how much of the logged traffic the variant would have shown the same way: near 0, the estimate
    # rests on few slots (a deterministic log covers an exploring variant only where the two agree)
    overlap = float(np.mean(e))
    return {
        "from_variants": [name for name in by_variant if name != target and by_variant[name]],
        "slates": len(rows),
        "impressions": n,
        "overlap": overlap,
        **{name: {"value": r.value, "ci": [r.ci_low, r.ci_high]} for name, r in results.items()},
    }
