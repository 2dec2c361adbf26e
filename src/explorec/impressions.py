"""The impression record: what was shown, to whom, by which policy, with which probabilities.

One schema, shared by everything that writes or reads a log of shown slates: the simulator's
traces, the off-policy estimators' input (:func:`to_bandit_log`) and the service's impression log.
What this record stores is what off-policy evaluation and online learning will trust, so it keeps
each shown item's *own* model score, its display position, the probability that the policy put it
there, and whether the slot explored.

A :class:`~explorec.types.Slate` converts into a record without loss
(:meth:`ImpressionRecord.from_slate`); the record adds the context that the slate does not know
(recommendation id, user, model version, experiment, time).

The JSON form (:meth:`ImpressionRecord.to_dict`) is described by :data:`IMPRESSION_JSON_SCHEMA`;
:data:`SCHEMA_VERSION` is written into every record and checked on reading.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from explorec.errors import DataError

if TYPE_CHECKING:
    from explorec.evaluation.ope import BanditLog
    from explorec.types import Slate

SCHEMA_VERSION = 1

#: where an item of a slate came from (the service's fallback chain; offline it is always "model")
STAGES = ("model", "item-to-item", "popular", "newest", "exploration")

_PER_SLOT = ("items", "item_ids", "scores", "propensities", "explored", "stages")


@dataclass(frozen=True, eq=False)
class ImpressionRecord:
    """One shown slate, as stored in an impression log.

    Attributes
    ----------
    recommendation_id : str
        Unique id of this slate; feedback quotes it to be attributed to the slot that was shown.
    user : int
        Internal user index (``-1`` when the user had no index, e.g. an unknown user served cold).
    user_id : str
        External user id (a pseudonym where the service pseudonymises ids).
    items : tuple of int, length k
        Internal item indices in display order (position 0 first).
    item_ids : tuple of str, length k
        External item ids, aligned with ``items``.
    scores : tuple of float, length k
        Each shown item's own model score (NaN where the stage that produced it has no score).
    propensities : tuple of float, length k
        ``P(item shown at this position | context)`` under the logging policy, in (0, 1].
    explored : tuple of bool, length k
        True where the slot was filled by exploration.
    policy : str
        Registry name of the policy that built the slate.
    policy_params : dict
        The policy's hyper-parameters (JSON values).
    propensity_method : str
        ``"exact"``, or the estimator used: ``"geometric:N"`` (the propensity is ``1 / G`` with ``G``
        the fresh draws until the slot showed its item again, capped at ``N``: ``E[G] = 1 / p``, so
        the inverse is unbiased up to the cap; see :mod:`explorec.policies.propensity`), or
        ``"exact[0]+geometric:N"`` (softmax: exact first position).
    model_version : str
        Version of the model that scored the candidates (``""`` offline when not versioned).
    timestamp : float
        Unix time in seconds at which the slate was built.
    stages : tuple of str, length k
        Which stage produced each item (see :data:`STAGES`).
    experiment, variant : str
        Experiment and variant the user was assigned to (``""`` when none).
    k : int
        Slate length that was asked for (``len(items)`` may be shorter when candidates ran out).
    note : str
        Anything the caller should know (e.g. fewer candidates than asked for).
    """

    recommendation_id: str
    user: int
    user_id: str
    items: tuple[int, ...]
    item_ids: tuple[str, ...]
    scores: tuple[float, ...]
    propensities: tuple[float, ...]
    explored: tuple[bool, ...]
    policy: str
    policy_params: Mapping[str, Any] = field(default_factory=dict)
    propensity_method: str = "exact"
    model_version: str = ""
    timestamp: float = 0.0
    stages: tuple[str, ...] = ()
    experiment: str = ""
    variant: str = ""
    k: int = 0
    note: str = ""

    def __post_init__(self) -> None:
        n = len(self.items)
        if not self.stages:
            object.__setattr__(self, "stages", ("model",) * n)
        if self.k == 0:
            object.__setattr__(self, "k", n)
        for name in _PER_SLOT:
            if len(getattr(self, name)) != n:
                raise DataError(
                    f"impression {self.recommendation_id!r}: {name} has {len(getattr(self, name))} "
                    f"values for {n} items"
                )
        if not self.recommendation_id:
            raise DataError("impression: recommendation_id must not be empty")
        for j, p in enumerate(self.propensities):
            if not (0.0 < p <= 1.0) or math.isnan(p):
                raise DataError(
                    f"impression {self.recommendation_id!r}: propensity at position {j} is {p!r}, "
                    "expected a value in (0, 1]"
                )
        for j, s in enumerate(self.stages):
            if s not in STAGES:
                raise DataError(
                    f"impression {self.recommendation_id!r}: stage at position {j} is {s!r}; "
                    f"known stages: {', '.join(STAGES)}"
                )
        if len(set(self.items)) != n:
            raise DataError(f"impression {self.recommendation_id!r}: an item is shown twice")
        if self.k < n:
            raise DataError(f"impression {self.recommendation_id!r}: k={self.k} < {n} items shown")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def positions(self) -> tuple[int, ...]:
        """0-based display positions, aligned with ``items``."""
        return tuple(range(len(self.items)))

    # ------------------------------------------------------------------ conversions
    @classmethod
    def from_slate(
        cls,
        slate: Slate,
        *,
        recommendation_id: str,
        user: int = -1,
        user_id: str = "",
        item_ids: Sequence[str] | None = None,
        policy_params: Mapping[str, Any] | None = None,
        model_version: str = "",
        timestamp: float = 0.0,
        stages: Sequence[str] | None = None,
        experiment: str = "",
        variant: str = "",
        k: int = 0,
    ) -> ImpressionRecord:
        """The record of ``slate`` (lossless: :meth:`to_slate` gives the slate back)."""
        items = tuple(int(i) for i in slate.items)
        ids = tuple(str(i) for i in items) if item_ids is None else tuple(str(i) for i in item_ids)
        params = dict(policy_params if policy_params is not None else slate.policy_params)
        return cls(
            recommendation_id=recommendation_id,
            user=int(user),
            user_id=user_id or (str(int(user)) if user >= 0 else ""),
            items=items,
            item_ids=ids,
            scores=tuple(float(s) for s in slate.scores),
            propensities=tuple(float(p) for p in slate.propensities),
            explored=tuple(bool(e) for e in slate.explored),
            policy=slate.policy,
            policy_params=_jsonable(params),
            propensity_method=slate.propensity_method,
            model_version=model_version,
            timestamp=float(timestamp),
            stages=tuple(stages) if stages is not None else (),
            experiment=experiment,
            variant=variant,
            k=k or len(items),
            note=slate.note,
        )

    def to_slate(self) -> Slate:
        """The slate this record describes."""
        from explorec.types import Slate

        return Slate(
            np.asarray(self.items, dtype=np.int64),
            np.asarray(self.scores, dtype=np.float32),
            np.asarray(self.propensities, dtype=np.float64),
            np.asarray(self.explored, dtype=bool),
            policy=self.policy,
            propensity_method=self.propensity_method,
            note=self.note,
            policy_params=dict(self.policy_params),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN scores become ``null``), described by :data:`IMPRESSION_JSON_SCHEMA`."""
        return {
            "schema_version": SCHEMA_VERSION,
            "recommendation_id": self.recommendation_id,
            "user": self.user,
            "user_id": self.user_id,
            "items": list(self.items),
            "item_ids": list(self.item_ids),
            "positions": list(self.positions),
            "scores": [None if math.isnan(s) else s for s in self.scores],
            "propensities": list(self.propensities),
            "explored": list(self.explored),
            "stages": list(self.stages),
            "policy": self.policy,
            "policy_params": dict(self.policy_params),
            "propensity_method": self.propensity_method,
            "model_version": self.model_version,
            "timestamp": self.timestamp,
            "experiment": self.experiment,
            "variant": self.variant,
            "k": self.k,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "impression") -> ImpressionRecord:
        """Read :meth:`to_dict`'s form; a missing or mistyped field raises ``DataError`` naming it."""
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise DataError(f"{source}: schema_version {version!r}, expected {SCHEMA_VERSION}")
        unknown = set(data) - set(IMPRESSION_JSON_SCHEMA["properties"])
        if unknown:
            raise DataError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}")
        for name in IMPRESSION_JSON_SCHEMA["required"]:
            if name not in data:
                raise DataError(f"{source}: field {name!r} is missing")
        n = len(data["items"])
        positions = data.get("positions", list(range(n)))
        if list(positions) != list(range(n)):
            raise DataError(f"{source}: field 'positions' must be 0..{n - 1} in order, got {positions!r}")
        try:
            return cls(
                recommendation_id=str(data["recommendation_id"]),
                user=int(data["user"]),
                user_id=str(data["user_id"]),
                items=tuple(int(i) for i in data["items"]),
                item_ids=tuple(str(i) for i in data["item_ids"]),
                scores=tuple(float("nan") if s is None else float(s) for s in data["scores"]),
                propensities=tuple(float(p) for p in data["propensities"]),
                explored=tuple(bool(e) for e in data["explored"]),
                policy=str(data["policy"]),
                policy_params=dict(data.get("policy_params", {})),
                propensity_method=str(data.get("propensity_method", "exact")),
                model_version=str(data.get("model_version", "")),
                timestamp=float(data.get("timestamp", 0.0)),
                stages=tuple(str(s) for s in data.get("stages", ())),
                experiment=str(data.get("experiment", "")),
                variant=str(data.get("variant", "")),
                k=int(data.get("k", 0)),
                note=str(data.get("note", "")),
            )
        except DataError as exc:
            raise DataError(f"{source}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise DataError(f"{source}: a field has the wrong type ({exc})") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, tuple):
            value = list(value)
        try:
            json.dumps(value)
        except TypeError:
            value = repr(value)
        out[str(key)] = value
    return out


#: JSON Schema (draft 2020-12) of :meth:`ImpressionRecord.to_dict`
IMPRESSION_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "explorec impression record",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "schema_version",
        "recommendation_id",
        "user",
        "user_id",
        "items",
        "item_ids",
        "scores",
        "propensities",
        "explored",
        "policy",
    ],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "recommendation_id": {"type": "string", "minLength": 1},
        "user": {"type": "integer", "minimum": -1},
        "user_id": {"type": "string"},
        "items": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "item_ids": {"type": "array", "items": {"type": "string"}},
        "positions": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "scores": {"type": "array", "items": {"type": ["number", "null"]}},
        "propensities": {
            "type": "array",
            "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        },
        "explored": {"type": "array", "items": {"type": "boolean"}},
        "stages": {"type": "array", "items": {"enum": list(STAGES)}},
        "policy": {"type": "string"},
        "policy_params": {"type": "object"},
        "propensity_method": {"type": "string"},
        "model_version": {"type": "string"},
        "timestamp": {"type": "number"},
        "experiment": {"type": "string"},
        "variant": {"type": "string"},
        "k": {"type": "integer", "minimum": 0},
        "note": {"type": "string"},
    },
}


def to_bandit_log(
    records: Sequence[ImpressionRecord],
    rewards: Sequence[npt.ArrayLike],
    *,
    n_actions: int,
    len_list: int | None = None,
    context: npt.ArrayLike | None = None,
    reward_range: tuple[float, float] = (0.0, 1.0),
    source: str = "impressions",
) -> BanditLog:
    """The off-policy estimators' input: one row per shown slot, rows of a slate share a ``slate_id``.

    Parameters
    ----------
    records : sequence of ImpressionRecord
    rewards : sequence of float[len(record)]
        The reward observed at each shown position of each record (clicks: 0/1).
    n_actions : int
        Number of items (actions are the records' internal ``items``).
    len_list : int, optional
        Slots per slate (defaults to the longest record).
    context : float[n_records, d], optional
        Per-slate user context, repeated for each of the slate's rows.
    """
    from explorec.evaluation.ope import BanditLog

    if len(records) != len(rewards):
        raise DataError(f"{source}: {len(records)} records but {len(rewards)} reward vectors")
    if not records:
        raise DataError(f"{source}: no impressions")
    action: list[int] = []
    reward: list[float] = []
    pscore: list[float] = []
    position: list[int] = []
    slate: list[int] = []
    for j, (rec, r) in enumerate(zip(records, rewards, strict=True)):
        rr = np.asarray(r, dtype=np.float64).reshape(-1)
        if rr.shape[0] != len(rec):
            raise DataError(
                f"{source}: record {rec.recommendation_id!r} shows {len(rec)} items, "
                f"got {rr.shape[0]} rewards"
            )
        action.extend(rec.items)
        reward.extend(rr.tolist())
        pscore.extend(rec.propensities)
        position.extend(rec.positions)
        slate.extend([j] * len(rec))
    ctx = None
    if context is not None:
        c = np.asarray(context, dtype=np.float64)
        if c.shape[0] != len(records):
            raise DataError(f"{source}: context has {c.shape[0]} rows for {len(records)} records")
        ctx = np.repeat(c, [len(rec) for rec in records], axis=0)
    return BanditLog(
        np.asarray(action, dtype=np.int64),
        np.asarray(reward, dtype=np.float64),
        np.asarray(pscore, dtype=np.float64),
        np.asarray(position, dtype=np.int64),
        int(n_actions),
        int(len_list if len_list is not None else max(len(rec) for rec in records)),
        context=ctx,
        slate_id=np.asarray(slate, dtype=np.int64),
        reward_range=reward_range,
        source=source,
    )
