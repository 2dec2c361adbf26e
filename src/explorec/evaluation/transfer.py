"""Evaluation protocols for few-shot users and cross-domain transfer.

Few-shot (``few_shot``)
    For each ``k`` in ``ks`` (default 1, 3, 5), ``explorec.data.splits.few_shot_split`` keeps only the
    first ``k`` interactions of a random share of users in training and holds out their next one;
    every other user trains in full. Each model is fitted on that training data and evaluated by full
    ranking on the held-out items. The same users are the few-shot users for every ``k``
    (``min_history = max(ks) + 2`` and one seed), so the points of a curve are comparable.
    With ``refit=False`` (inductive variant) each model is fitted once, on the other users only, and
    the few-shot users' ``k`` interactions are given at recommendation time as their history: they
    are users the model never saw, which is also much cheaper for models that train.

Cross-domain (``cross_domain``)
    Models learn on a *source* dataset and recommend on a *target* dataset with another catalogue.
    The target is split leave-one-out (its shipped split when it has one); its test users' known
    histories (train + valid) are what every model sees at recommendation time. ``target_share``
    is the share of the target's training users whose rows a model may *train* on: 0 is zero-shot
    (nothing is trained on the target; histories are only read at inference), 0.1 a small share.
    What each model does with source and target is a ``Strategy``: ``FitOnTarget`` (a model that is
    trained on whatever target data is allowed, e.g. popularity, or needs none, e.g. text-kNN) and
    ``TransferFromSource`` (fit on the source, then ``model.transfer`` to the target, fine-tuning on
    the allowed target rows).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from explorec.data.interactions import Catalog, Dataset, Interactions, Split
from explorec.errors import ConfigError, check_range
from explorec.evaluation.protocol import evaluate
from explorec.models.base import Recommender

logger = logging.getLogger(__name__)

#: builds an unfitted model
ModelFactory = Callable[[], Recommender]


@dataclass
class ProtocolResult:
    """One (setting, model) cell of a protocol.

    Attributes
    ----------
    protocol : str
        ``"few-shot"`` or ``"cross-domain"``.
    model : str
        The name the caller gave the model.
    setting : dict
        ``{"dataset", "k"}`` (few-shot) or ``{"source", "target", "target_share", "strategy"}``.
    metrics : dict[str, float]
        Full-ranking metrics (``explorec.evaluation.evaluate``), e.g. ``"ndcg@10"``.
    n_users : int
        Evaluated users.
    fit_seconds, eval_seconds : float
    """

    protocol: str
    model: str
    setting: dict[str, Any]
    metrics: dict[str, float]
    n_users: int
    fit_seconds: float
    eval_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "model": self.model,
            **self.setting,
            "n_users": self.n_users,
            "fit_seconds": round(self.fit_seconds, 3),
            "eval_seconds": round(self.eval_seconds, 3),
            **{k: round(v, 6) for k, v in self.metrics.items()},
            **self.extra,
        }


def _fit(model: Recommender, train: Interactions, catalog: Catalog, valid: Interactions | None) -> None:
    if valid is not None and len(valid) and "valid" in _fit_keywords(model):
        model.fit(train, catalog, valid=valid)  # type: ignore[call-arg]
    else:
        model.fit(train, catalog)


def _fit_keywords(model: Recommender) -> set[str]:
    import inspect

    return set(inspect.signature(model.fit).parameters)


# ---------------------------------------------------------------------------- few-shot
def few_shot(
    dataset: Dataset,
    models: Mapping[str, ModelFactory],
    *,
    ks: Sequence[int] = (1, 3, 5),
    test_user_fraction: float = 0.2,
    k_metrics: Sequence[int] = (10,),
    seed: int = 0,
    refit: bool = True,
) -> list[ProtocolResult]:
    """Accuracy for users with only ``k`` training interactions, for each ``k`` in ``ks``.

    Parameters
    ----------
    dataset : Dataset
        Interactions and the catalogue (text models read it).
    models : mapping name -> factory
        Each factory returns a fresh unfitted model.
    ks : sequence of int
        Training interactions kept per few-shot user.
    test_user_fraction : float
        Share of eligible users (those with at least ``max(ks) + 2`` interactions) that are few-shot.
    k_metrics : sequence of int
        Cut-offs of the metrics.
    seed : int
        Seeds the choice of few-shot users (the same users for every ``k``).
    refit : bool
        True: fit every model for every ``k`` on that split's training rows. False: fit each model once
        on the rows of the other users (the few-shot users are unseen; inductive variant).

    Returns
    -------
    list[ProtocolResult]
        One per (k, model), in that order.
    """
    from explorec.data.splits import few_shot_split

    if not ks:
        raise ConfigError("ks must name at least one k, got an empty sequence")
    rows: list[ProtocolResult] = []
    min_history = max(ks) + 2
    splits = {
        k: few_shot_split(
            dataset.interactions,
            k=k,
            test_user_fraction=test_user_fraction,
            min_history=min_history,
            seed=seed,
        )
        for k in ks
    }
    once: dict[str, tuple[Recommender, float]] = {}
    if not refit:
        first = splits[ks[0]]
        others = first.train.select(~np.isin(first.train.user, first.test.user))
        for name, factory in models.items():
            t0 = time.perf_counter()
            model = factory()
            _fit(model, others, dataset.catalog, None)
            once[name] = (model, time.perf_counter() - t0)
    for k in ks:
        split = splits[k]
        for name, factory in models.items():
            if refit:
                model = factory()
                t0 = time.perf_counter()
                _fit(model, split.train, dataset.catalog, None)
                fitted = time.perf_counter() - t0
            else:
                model, fitted = once[name]
            result = evaluate(model, split.test, history=split.test_history, k=tuple(k_metrics))
            logger.info("few-shot %s k=%d %s: %s", dataset.name, k, name, result.metrics)
            rows.append(
                ProtocolResult(
                    "few-shot",
                    name,
                    {"dataset": dataset.name, "k": int(k), "refit": refit},
                    dict(result.metrics),
                    int(result.users.size),
                    fitted,
                    result.seconds,
                )
            )
    return rows


# ---------------------------------------------------------------------------- cross-domain
class Strategy(Protocol):
    """How one model gets from a source dataset to a fitted model on the target catalogue."""

    def __call__(
        self,
        source: Dataset,
        target_train: Interactions | None,
        target_history: Interactions,
        target_catalog: Catalog,
    ) -> Recommender:
        """A model fitted for the target.

        ``target_train`` holds the target rows the model may train on (None: zero-shot, nothing);
        ``target_history`` is what is known about the test users at recommendation time (read-only
        context: a strategy may hand it to ``fit`` only as a vocabulary carrier for models that learn
        nothing from it, and must say so in ``description``).
        """
        ...


@dataclass
class FitOnTarget:
    """Fit a fresh model on the allowed target rows; zero-shot uses the test users' known histories.

    With ``target_train`` None the model is fitted on ``target_history``, which is right for models
    that learn nothing from interactions (text-kNN reads histories at inference anyway) and turns
    popularity into "popularity among the known histories" — say so when reporting it.
    """

    factory: ModelFactory
    description: str = "fit on the allowed target rows (zero-shot: on the known histories)"

    def __call__(
        self,
        source: Dataset,
        target_train: Interactions | None,
        target_history: Interactions,
        target_catalog: Catalog,
    ) -> Recommender:
        return self.factory().fit(target_history if target_train is None else target_train, target_catalog)


@dataclass
class TransferFromSource:
    """Fit on the source (once, reused across shares), then ``model.transfer`` to the target.

    ``epochs`` fine-tuning epochs are run when target rows are allowed; none for zero-shot.
    """

    factory: ModelFactory
    epochs: int = 5
    transfer_params: dict[str, Any] = field(default_factory=dict)
    description: str = "trained on the source; transferred (zero-shot or fine-tuned on the target share)"
    _source_model: Recommender | None = None
    _source_name: str = ""

    def source_model(self, source: Dataset) -> Recommender:
        if self._source_model is None or self._source_name != source.name:
            model = self.factory()
            if not hasattr(model, "transfer"):
                raise ConfigError(f"{type(model).__name__} has no transfer(); use FitOnTarget for it")
            split = source.split
            if split is not None:
                _fit(model, split.train, source.catalog, split.valid)
            else:
                model.fit(source.interactions, source.catalog)
            self._source_model, self._source_name = model, source.name
        return self._source_model

    def __call__(
        self,
        source: Dataset,
        target_train: Interactions | None,
        target_history: Interactions,
        target_catalog: Catalog,
    ) -> Recommender:
        model: Any = self.source_model(source)
        if target_train is None:
            # epochs=0: the history only supplies the vocabulary; nothing is trained on it
            return model.transfer(target_history, target_catalog, epochs=0, **self.transfer_params)
        return model.transfer(target_train, target_catalog, epochs=self.epochs, **self.transfer_params)


def target_rows(split: Split, share: float, *, seed: int = 0) -> Interactions | None:
    """Training rows of a random ``share`` of the target's training users (None for share 0)."""
    check_range("target_share", share, 0.0, 1.0)
    if share == 0:
        return None
    users = np.unique(split.train.user)
    n = max(1, round(share * users.size))
    chosen = np.random.default_rng(seed).choice(users, size=n, replace=False)
    return split.train.select(np.isin(split.train.user, chosen))


def cross_domain(
    source: Dataset,
    target: Dataset,
    strategies: Mapping[str, Strategy],
    *,
    target_shares: Sequence[float] = (0.0,),
    k_metrics: Sequence[int] = (10,),
    seed: int = 0,
) -> list[ProtocolResult]:
    """Learn on ``source``, recommend on ``target`` (see the module docstring).

    Parameters
    ----------
    source, target : Dataset
    strategies : mapping name -> Strategy
        ``FitOnTarget(factory)`` or ``TransferFromSource(factory, epochs=...)``, or any callable of
        the ``Strategy`` shape.
    target_shares : sequence of float in [0, 1]
        Shares of the target's training users whose rows may be trained on (0 = zero-shot).
    k_metrics : sequence of int
        Metric cut-offs.
    seed : int
        Seeds the choice of target users per share.

    Returns
    -------
    list[ProtocolResult]
        One per (share, strategy).
    """
    from explorec.data.splits import leave_one_out

    split = target.split if target.split is not None else leave_one_out(target.interactions)
    history = split.test_history
    rows: list[ProtocolResult] = []
    for share in target_shares:
        train = target_rows(split, float(share), seed=seed)
        for name, strategy in strategies.items():
            t0 = time.perf_counter()
            model = strategy(source, train, history, target.catalog)
            fitted = time.perf_counter() - t0
            result = evaluate(model, split.test, history=history, k=tuple(k_metrics))
            logger.info(
                "cross-domain %s->%s share=%g %s: %s", source.name, target.name, share, name, result.metrics
            )
            rows.append(
                ProtocolResult(
                    "cross-domain",
                    name,
                    {
                        "source": source.name,
                        "target": target.name,
                        "target_share": float(share),
                        "target_train_rows": 0 if train is None else len(train),
                        "strategy": getattr(strategy, "description", type(strategy).__name__),
                    },
                    dict(result.metrics),
                    int(result.users.size),
                    fitted,
                    result.seconds,
                )
            )
    return rows
