"""Model fusion: weighted score fusion, reciprocal rank fusion and a learned (stacked) fusion.

Each fusion is a ``Recommender`` over component ``Recommender``s named in the model registry:
``components=[["ease", {"l2": 200.0}], ["textknn", {}]]`` (a bare name means default parameters).
``fit`` fits every component on the same data; ``save`` writes each fitted component into a
sub-folder ``component_<m>/`` of the fusion's folder, so a saved fusion is plain json + npz throughout.

**Per-user normalisation.** Component scores live on different scales (counts, cosines, logits), so
they are normalised per user before they are combined, over the items the user has *not* seen
(``history`` items would otherwise dominate the statistics of item-based models):

* ``"minmax"``: ``(s - min) / (max - min)`` (0 when the row is constant);
* ``"zscore"``: ``(s - mean) / std`` (0 when the row is constant);
* ``"rank"``: Borda, ``(n_items - rank) / (n_items - 1)`` with rank 1 the best unseen item, tied
  items sharing their average rank and seen items ranked after every unseen one.

**Rank fusion** (Cormack, Clarke & Buettcher, SIGIR 2009): ``sum_m w_m / (k_rrf + rank_m)``, ranks as
above (1-based), ``k_rrf = 60``.

**Learned fusion** (stacking, Wolpert 1992, as a two-stage ranker): the *pool* of a user is the
union of every component's top ``n_candidates`` unseen items; a logistic regression (L2-regularised,
class-balanced, scikit-learn's ``LogisticRegression``) predicts whether a pool item is the user's
held-out item from, for each component ``m``, the z-scored score ``z_m`` and the log-rank
``-log rank_m``, both also multiplied by ``h = log(1 + history length)``, plus ``h`` itself. The
``h``-interactions let the weight of each component depend on how much the model knows about the
user, so cold users can lean on a text model and heavy users on a collaborative one. Training rows
are exactly the pools of the validation users (label 1 for held-out items in the pool,
class-balanced); held-out items outside the pool are not added, because forcing them in would teach
the model that mid-ranked items are likely positives (a selection bias). At scoring time the pool
items come first, in meta-score order, and every other item after them (also in meta-score order).
Validation data: ``fit(train)`` holds out each user's last training interaction (users with at least
two), fits the components on the rest, learns the meta-model, then refits the components on all of
``train`` (``refit=True``); ``fit_with_validation(train, valid)`` uses a given validation set instead.
"""

from __future__ import annotations

import logging
import warnings
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import scipy.stats

from explorec import progress
from explorec.data.interactions import Catalog, Interactions
from explorec.errors import ConfigError, DataError, check_choice, check_positive_int
from explorec.models.base import Recommender

logger = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

NORMALIZATIONS = ("minmax", "zscore", "rank")
#: what ``components`` holds: a registry name, or ``[name, {params}]``
ComponentSpec = str | Sequence[Any]


def parse_components(components: Sequence[ComponentSpec]) -> list[tuple[str, dict[str, Any]]]:
    """``[(name, params), ...]`` from registry names or ``[name, params]`` pairs, else ``ConfigError``."""
    from explorec.models.registry import MODELS

    if isinstance(components, str) or not isinstance(components, Sequence) or len(components) == 0:
        raise ConfigError(
            f"components must be a non-empty list of model names or [name, params] pairs, got {components!r}"
        )
    out = []
    for spec in components:
        if isinstance(spec, str):
            name, params = spec, {}
        elif (
            isinstance(spec, Sequence)
            and len(spec) == 2
            and isinstance(spec[0], str)
            and isinstance(spec[1], dict)
        ):
            name, params = spec[0], dict(spec[1])
        else:
            raise ConfigError(f"component {spec!r}: expected a model name or a [name, params] pair")
        if name not in MODELS:
            raise ConfigError(
                f"component {name!r} is not a registered model; known: {', '.join(sorted(MODELS))}"
            )
        out.append((name, params))
    return out


def parse_fusion_spec(spec: str) -> list[list[Any]]:
    """Components from ``"ease+textknn"`` or ``"ease:l2=200+textknn"`` (the CLI's ``--fuse``).

    Values are JSON literals or plain strings; nothing is evaluated as code.

    Examples
    --------
    >>> parse_fusion_spec("popularity+itemknn:k=50,shrinkage=5")
    [['popularity', {}], ['itemknn', {'k': 50, 'shrinkage': 5}]]
    """
    from explorec.spec import parse_value

    out: list[list[Any]] = []
    for piece in spec.split("+"):
        name, _, rest = piece.strip().partition(":")
        params: dict[str, Any] = {}
        for pair in filter(None, (p.strip() for p in rest.split(","))):
            key, sep, raw = pair.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"--fuse {spec!r}: expected NAME[:KEY=VALUE,...]+NAME..., got {piece!r}")
            params[key.strip()] = parse_value(raw)
        out.append([name.strip(), params])
    parse_components(out)
    return out


# ---------------------------------------------------------------------------------- normalisation
def seen_rows(users: I64, history: Interactions) -> npt.NDArray[np.bool_]:
    """bool[B, n_items]: True where the user has an interaction in ``history``."""
    csr = history.to_csr()[users]
    mask = np.zeros((users.size, history.n_items), dtype=bool)
    mask[np.repeat(np.arange(users.size), np.diff(csr.indptr)), csr.indices] = True
    return mask


def _row_stats(scores: F64, seen: npt.NDArray[np.bool_]) -> tuple[F64, F64, F64, F64]:
    unseen = ~seen
    count = np.maximum(unseen.sum(axis=1, keepdims=True), 1)
    low = np.where(unseen, scores, np.inf).min(axis=1, keepdims=True)
    high = np.where(unseen, scores, -np.inf).max(axis=1, keepdims=True)
    low = np.where(np.isfinite(low), low, 0.0)
    high = np.where(np.isfinite(high), high, 0.0)
    mean = np.where(unseen, scores, 0.0).sum(axis=1, keepdims=True) / count
    var = np.where(unseen, (scores - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / count
    return low, high, mean, np.sqrt(var)


def ranks(scores: F64, seen: npt.NDArray[np.bool_]) -> F64:
    """1-based ranks per row (1 = best), ties averaged, seen items after every unseen item."""
    s = np.where(seen, -np.inf, scores)
    return np.asarray(scipy.stats.rankdata(-s, method="average", axis=1), dtype=np.float64)


def normalise(scores: npt.ArrayLike, seen: npt.NDArray[np.bool_], method: str) -> F64:
    """Per-row normalisation of ``scores [B, n_items]`` over the unseen items (see module docstring)."""
    s = np.asarray(scores, dtype=np.float64)
    if method == "rank":
        n = s.shape[1]
        return (n - ranks(s, seen)) / max(n - 1, 1)
    low, high, mean, std = _row_stats(s, seen)
    if method == "minmax":
        span = high - low
        return np.divide(s - low, span, out=np.zeros_like(s), where=span > 0)
    if method == "zscore":
        return np.divide(s - mean, std, out=np.zeros_like(s), where=std > 0)
    raise ConfigError(f"normalization must be one of {NORMALIZATIONS}, got {method!r}")


# ---------------------------------------------------------------------------------- base
class _Fusion(Recommender):
    """Fits the components and saves/loads them; subclasses combine their scores."""

    uses_history: ClassVar[bool] = True
    components_: list[Recommender]

    def __init__(self, *, components: Sequence[ComponentSpec]) -> None:
        self.components = components

    def _check_params(self) -> None:
        parse_components(self.components)

    def _make_components(self) -> list[Recommender]:
        from explorec.models.registry import make_model

        return [make_model(name, **params) for name, params in parse_components(self.components)]

    def _fit_components(self, train: Interactions, catalog: Catalog | None) -> list[Recommender]:
        fitted = []
        components = self._make_components()
        for model in progress.bar(components, desc="fusion components", unit="model"):
            logger.info("%s: fitting component %r", type(self).__name__, model)
            fitted.append(model.fit(train, catalog))
        return fitted

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        self._check_params()
        self.components_ = self._fit_components(train, catalog)

    def _component_scores(
        self, components: Sequence[Recommender], users: I64, history: Interactions
    ) -> list[F64]:
        return [np.asarray(m.score(users, history=history), dtype=np.float64) for m in components]

    def _save_extra(self, path: Path) -> None:
        for m, model in enumerate(self.components_):
            model.write_files(path / f"component_{m}")  # inside the fusion's own atomic version

    def _load_extra(self, path: Path) -> None:
        n = len(parse_components(self.components))
        missing = [m for m in range(n) if not (path / f"component_{m}" / "config.json").is_file()]
        if missing:
            raise DataError(f"{path}: saved fusion lacks component folder(s) {missing}")
        self.components_ = [Recommender.read_files(path / f"component_{m}") for m in range(n)]


class _ValidatedFusion(_Fusion):
    """A fusion that chooses how to combine its components on validation data (:meth:`_choose`).

    ``fit_with_validation(train, valid)`` fits the components on ``train`` and chooses on ``valid``;
    plain ``fit(train)`` (what ``explorec train`` and the service's trainer call) holds out each user's
    last training interaction, fits the components on the rest, chooses on the held-out part, then
    refits the components on all of ``train`` when ``refit`` is true.
    """

    refit: bool

    @abstractmethod
    def _choose(self, components: list[Recommender], valid: Interactions, history: Interactions) -> None:
        """Learn the combination (weights, a meta-model) from ``valid``; ``history``: the users' past."""

    def fit_with_validation(
        self, train: Interactions, valid: Interactions, catalog: Catalog | None = None
    ) -> Self:
        """Fit the components on ``train`` and choose the combination on ``valid`` (history: ``train``)."""
        if not train.same_vocabulary(valid):
            raise DataError("fit_with_validation: train and valid use different vocabularies")
        if len(valid) == 0:
            raise DataError("fit_with_validation: the validation interactions are empty")
        self._validation = valid
        try:
            return self.fit(train, catalog)
        finally:
            del self._validation

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        self._check_params()
        valid = getattr(self, "_validation", None)
        if valid is not None:
            self.components_ = self._fit_components(train, catalog)
            self._choose(self.components_, valid, train)
            return
        fit_part, held_out = _hold_out_last(train)
        if len(held_out) == 0:
            raise DataError(f"{type(self).__name__}: no user has two training interactions to hold one out")
        components = self._fit_components(fit_part, catalog)
        self._choose(components, held_out, fit_part)
        self.components_ = self._fit_components(train, catalog) if self.refit else components


def _check_weights(weights: Sequence[float] | None, n: int) -> F64:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.size != n or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ConfigError(
            f"weights must be {n} finite non-negative numbers with a positive sum, got {weights!r}"
        )
    return w


# ---------------------------------------------------------------------------------- weighted
class WeightedFusion(_Fusion):
    """``sum_m w_m * normalise(s_m)`` with per-user normalisation.

    Parameters
    ----------
    components : list of str or [name, params]
        Registered models to fuse.
    weights : list of float, optional
        One non-negative weight per component (default: equal).
    normalization : {"minmax", "zscore", "rank"}
        Per-user score normalisation (module docstring).
    """

    name = "fusion-weighted"

    def __init__(
        self,
        *,
        components: Sequence[ComponentSpec] = ("popularity", "itemknn"),
        weights: Sequence[float] | None = None,
        normalization: str = "minmax",
    ) -> None:
        super().__init__(components=components)
        self.weights = weights
        self.normalization = normalization

    @classmethod
    def contract_params(cls) -> dict[str, Any]:
        return {
            "components": [["popularity", {}], ["itemknn", {"k": 20, "shrinkage": 1.0, "progress": False}]],
            "weights": [0.2, 0.8],
        }

    def _check_params(self) -> None:
        _check_weights(self.weights, len(parse_components(self.components)))
        check_choice("normalization", self.normalization, NORMALIZATIONS)

    def _score(self, users: I64, history: Interactions) -> F32:
        weights = _check_weights(self.weights, len(self.components_))
        seen = seen_rows(users, history)
        fused = np.zeros((users.size, self.n_items_))
        for w, s in zip(weights, self._component_scores(self.components_, users, history), strict=True):
            fused += w * normalise(s, seen, self.normalization)
        return fused.astype(np.float32)


# ---------------------------------------------------------------------------------- tuned weighted
#: the best fusion of bench/fusion_debias.py on amazon-scientific (+10 % NDCG@10 over EASE)
TUNED_COMPONENTS: tuple[ComponentSpec, ...] = (["ease", {"l2": 50.0}], ["textknn", {}])


def simplex_grid(n: int, step: float) -> F64:
    """Every weight vector of ``n`` non-negative multiples of ``step`` summing to 1: ``float64[m, n]``.

    >>> simplex_grid(2, 0.25).tolist()
    [[0.0, 1.0], [0.25, 0.75], [0.5, 0.5], [0.75, 0.25], [1.0, 0.0]]
    """
    check_positive_int("n", n)
    units = round(1.0 / step)
    if not 0.0 < step <= 1.0 or abs(units * step - 1.0) > 1e-9:
        raise ConfigError(f"weight_step must divide 1 into whole steps (0.1, 0.05, 0.25, ...), got {step!r}")
    return np.asarray(list(_compositions(units, n)), dtype=np.float64)[::-1] / units


def _compositions(total: int, parts: int) -> Iterator[list[int]]:
    if parts == 1:
        yield [total]
        return
    for first in range(total, -1, -1):
        for rest in _compositions(total - first, parts - 1):
            yield [first, *rest]


class TunedFusion(_ValidatedFusion):
    """Weighted fusion whose weights are picked on validation data: one servable model.

    ``sum_m w_m * normalise(s_m)`` as in :class:`WeightedFusion`, with ``w`` the weight vector of
    ``simplex_grid(n_components, weight_step)`` (single components included) that gives the highest
    full-ranking NDCG@``k`` on the validation interactions. ``fit(train)`` holds out each user's last
    training interaction (users with at least two) as validation, fits the components on the rest, picks
    ``w``, then refits the components on all of ``train`` (``refit=True``);
    ``fit_with_validation(train, valid)`` picks ``w`` on a given validation set (history = ``train``)
    and keeps the components fitted on ``train``. The default components are EASE (``l2=50``) and the
    zero-shot text kNN: the best combination measured on amazon-scientific (``bench/fusion_served.py``).

    Parameters
    ----------
    components : list of str or [name, params]
        Registered models to fuse.
    weight_step : float
        Grid step of the weights (``0.1``: 11 candidates for two components).
    normalization : {"minmax", "zscore", "rank"}
        Per-user score normalisation (module docstring).
    k : int
        Cut-off of the validation NDCG.
    refit : bool
        ``fit`` only: refit the components on all of ``train`` after picking the weights.
    max_users : int
        Validation users used at most (a seeded random subset beyond that).
    seed : int
        Seed of the validation-user subset.

    Attributes
    ----------
    weights_ : float64[n_components]
        The weights picked.
    candidates_ : float64[n_candidates, n_components]
        The weight grid.
    valid_ndcg_ : float64[n_candidates]
        Validation NDCG@``k`` of each candidate.
    """

    name = "fusion"

    weights_: F64
    candidates_: F64
    valid_ndcg_: F64

    def __init__(
        self,
        *,
        components: Sequence[ComponentSpec] = TUNED_COMPONENTS,
        weight_step: float = 0.1,
        normalization: str = "minmax",
        k: int = 10,
        refit: bool = True,
        max_users: int = 20000,
        seed: int = 0,
    ) -> None:
        super().__init__(components=components)
        self.weight_step = weight_step
        self.normalization = normalization
        self.k = k
        self.refit = refit
        self.max_users = max_users
        self.seed = seed

    @classmethod
    def contract_params(cls) -> dict[str, Any]:
        return {
            "components": [["ease", {"l2": 10.0}], ["textknn", {"encoder": "hashing:128"}]],
            "weight_step": 0.25,
        }

    def _check_params(self) -> None:
        simplex_grid(len(parse_components(self.components)), float(self.weight_step))
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        check_positive_int("k", self.k)
        check_positive_int("max_users", self.max_users)

    def _choose(self, components: list[Recommender], valid: Interactions, history: Interactions) -> None:
        from explorec.ranking import apply_mask, mask_matrix, rank_top_k

        self.candidates_ = simplex_grid(len(components), float(self.weight_step))
        k = int(self.k)
        keys = np.unique(valid.user * np.int64(valid.n_items) + valid.item)
        users = np.unique(keys // valid.n_items)
        if users.size > self.max_users:
            users = np.sort(np.random.default_rng(self.seed).choice(users, self.max_users, replace=False))
        # the validation pairs stay rankable even when the history holds them too (as evaluate ranks)
        hist_keys = history.user * np.int64(history.n_items) + history.item
        seen = history.select(~np.isin(hist_keys, keys)).to_csr()
        disc = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
        ideal = np.concatenate([[0.0], np.cumsum(disc)])
        gains = np.zeros(len(self.candidates_))
        for start in progress.bar(range(0, users.size, 512), desc="fusion weights", unit="batch"):
            batch = users[start : start + 512]
            mask = seen_rows(batch, history)
            scores = self._component_scores(components, batch, history)
            planes = [normalise(s, mask, self.normalization) for s in scores]
            blocked = mask_matrix(batch, history.n_items, seen=seen)
            n_items = np.int64(valid.n_items)
            n_relevant = np.searchsorted(keys, (batch + 1) * n_items) - np.searchsorted(keys, batch * n_items)
            for c, weights in enumerate(self.candidates_):
                fused = sum(w * p for w, p in zip(weights, planes, strict=True))
                top = rank_top_k(apply_mask(np.asarray(fused, dtype=np.float32), blocked), k)  # [B, k]
                query = batch[:, None] * n_items + np.maximum(top, 0)
                pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
                hit = (keys[pos] == query) & (top >= 0)
                gains[c] += float(((hit * disc).sum(axis=1) / ideal[np.minimum(n_relevant, k)]).sum())
        self.valid_ndcg_ = gains / users.size
        best = int(np.argmax(self.valid_ndcg_))  # ties: the first candidate in grid order
        self.weights_ = self.candidates_[best].copy()
        logger.info(
            "fusion: weights %s picked on %d validation users (NDCG@%d %.4f; grid %s)",
            self.weights_.tolist(),
            users.size,
            k,
            self.valid_ndcg_[best],
            np.round(self.valid_ndcg_, 4).tolist(),
        )

    def _score(self, users: I64, history: Interactions) -> F32:
        seen = seen_rows(users, history)
        fused = np.zeros((users.size, self.n_items_))
        for w, s in zip(self.weights_, self._component_scores(self.components_, users, history), strict=True):
            if w > 0:
                fused += w * normalise(s, seen, self.normalization)
        return fused.astype(np.float32)


# ---------------------------------------------------------------------------------- rank fusion
class RankFusion(_Fusion):
    """Reciprocal rank fusion: ``sum_m w_m / (k_rrf + rank_m)`` (Cormack et al. 2009).

    Parameters
    ----------
    components : list of str or [name, params]
        Registered models to fuse.
    weights : list of float, optional
        One non-negative weight per component (default: 1 each, i.e. plain RRF).
    k_rrf : float
        The constant ``k`` of RRF (60 in the paper); larger values flatten the rank discount.
    """

    name = "fusion-rrf"

    def __init__(
        self,
        *,
        components: Sequence[ComponentSpec] = ("popularity", "itemknn"),
        weights: Sequence[float] | None = None,
        k_rrf: float = 60.0,
    ) -> None:
        super().__init__(components=components)
        self.weights = weights
        self.k_rrf = k_rrf

    @classmethod
    def contract_params(cls) -> dict[str, Any]:
        return {
            "components": [["popularity", {}], ["itemknn", {"k": 20, "shrinkage": 1.0, "progress": False}]],
            "weights": [0.2, 1.0],
        }

    def _check_params(self) -> None:
        n = len(parse_components(self.components))
        _check_weights(self.weights, n)
        if not float(self.k_rrf) >= 0.0:
            raise ConfigError(f"k_rrf must be >= 0, got {self.k_rrf!r}")

    def _score(self, users: I64, history: Interactions) -> F32:
        n = len(self.components_)
        weights = np.ones(n) if self.weights is None else _check_weights(self.weights, n)
        seen = seen_rows(users, history)
        fused = np.zeros((users.size, self.n_items_))
        for w, s in zip(weights, self._component_scores(self.components_, users, history), strict=True):
            fused += w / (float(self.k_rrf) + ranks(s, seen))
        return fused.astype(np.float32)


# ---------------------------------------------------------------------------------- learned
class LearnedFusion(_ValidatedFusion):
    """Stacked fusion: a logistic meta-model over per-candidate and per-user features.

    Parameters
    ----------
    components : list of str or [name, params]
        Registered models to fuse.
    n_candidates : int
        Each component's top unseen items per user that form the pool (training rows and the items
        the meta-model re-ranks).
    l2 : float
        L2 penalty of the logistic regression: ``0.5 * l2 * ||coef||^2 / n_positives`` is added to the
        class-balanced mean log-loss (features standardised; the intercept is not penalised).
    max_users : int
        Validation users used at most (a seeded random subset beyond that).
    refit : bool
        After learning the meta-model on an internal hold-out, refit the components on all of
        ``train`` (``fit`` only; ``fit_with_validation`` never refits).
    seed : int
        Seed of the validation-user subset.

    Attributes
    ----------
    coef_ : float64[n_features]
        Meta-model weights on standardised features, in :meth:`feature_names` order.
    intercept_ : float64[1]
    feature_mean_, feature_scale_ : float64[n_features]
        Standardisation of the features.
    """

    name = "fusion-learned"

    coef_: F64
    intercept_: F64
    feature_mean_: F64
    feature_scale_: F64

    def __init__(
        self,
        *,
        components: Sequence[ComponentSpec] = ("popularity", "itemknn"),
        n_candidates: int = 100,
        l2: float = 1.0,
        max_users: int = 5000,
        refit: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__(components=components)
        self.n_candidates = n_candidates
        self.l2 = l2
        self.max_users = max_users
        self.refit = refit
        self.seed = seed

    @classmethod
    def contract_params(cls) -> dict[str, Any]:
        return {
            "components": [["popularity", {}], ["itemknn", {"k": 20, "shrinkage": 1.0, "progress": False}]],
            "n_candidates": 10,
        }

    def feature_names(self) -> list[str]:
        """Names of the meta-model's features, in ``coef_`` order."""
        names = [n for n, _ in parse_components(self.components)]
        per = [f"{kind}[{m}:{n}]" for kind in ("z", "logrank") for m, n in enumerate(names)]
        return per + [f"h*{f}" for f in per] + ["h"]

    def _check_params(self) -> None:
        parse_components(self.components)
        check_positive_int("n_candidates", self.n_candidates)
        check_positive_int("max_users", self.max_users)
        if not float(self.l2) >= 0.0:
            raise ConfigError(f"l2 must be >= 0, got {self.l2!r}")

    # -------------------------------------------------------------- features
    def _base_planes(self, comp_scores: list[F64], seen: npt.NDArray[np.bool_]) -> Iterator[F64]:
        """The 2M per-candidate feature planes ``float64[B, n_items]``, one at a time (low memory)."""
        for s in comp_scores:
            yield normalise(s, seen, "zscore")
        for s in comp_scores:
            yield -np.log(ranks(s, seen))

    def _pool(self, comp_scores: list[F64], seen: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """bool[B, n_items]: the union of every component's top ``n_candidates`` unseen items.

        Ties at the cut-off go to the lower item index (stable sort), so a row's pool does not depend
        on the other rows of the batch.
        """
        n_top = min(int(self.n_candidates), seen.shape[1])
        pool = np.zeros(seen.shape, dtype=bool)
        rows = np.arange(seen.shape[0])[:, None]
        for s in comp_scores:
            top = np.argsort(np.where(seen, np.inf, -s), axis=1, kind="stable")[:, :n_top]  # [B, n_top]
            pool[rows, top] = True
        pool &= ~seen
        return pool

    def _choose(self, components: list[Recommender], valid: Interactions, history: Interactions) -> None:
        users = np.unique(valid.user)
        if users.size > self.max_users:
            pick = np.random.default_rng(self.seed).choice(users, self.max_users, replace=False)
            users = np.sort(pick)
        positives = sp.csr_matrix(
            (np.ones(len(valid)), (valid.user, valid.item)), shape=(valid.n_users, valid.n_items)
        )
        positives.data[:] = 1.0
        blocks, labels = [], []
        starts = range(0, users.size, 256)
        for start in progress.bar(starts, desc="fusion meta-features", unit="batch"):
            batch = users[start : start + 256]
            seen = seen_rows(batch, history)
            scores = self._component_scores(components, batch, history)
            pool = self._pool(scores, seen)
            target = positives[batch].toarray() > 0  # [B, n_items]
            has_positive = (pool & target).any(axis=1)  # users whose held-out item reached the pool
            pool &= has_positive[:, None]
            r, c = np.nonzero(pool)
            if r.size == 0:
                continue
            h = np.log1p(seen.sum(axis=1).astype(np.float64))[r]
            base = np.stack([plane[r, c] for plane in self._base_planes(scores, seen)], axis=1)  # [n, 2M]
            blocks.append(np.concatenate([base, base * h[:, None], h[:, None]], axis=1))  # [n, 4M + 1]
            labels.append(target[r, c])
        if not blocks:
            raise DataError(
                "fusion-learned: no validation user has a held-out item among the components' top "
                f"{self.n_candidates}; raise n_candidates"
            )
        x = np.concatenate(blocks)  # [n_rows, F]
        y = np.concatenate(labels).astype(np.float64)
        if y.min() == y.max():
            raise DataError("fusion-learned: the validation rows hold only one class")
        self.feature_mean_ = x.mean(axis=0)
        scale = x.std(axis=0)
        # a (numerically) constant feature keeps scale 1, so its coefficient cannot blow it up later
        constant = scale <= 1e-9 * np.maximum(1.0, np.abs(self.feature_mean_))
        self.feature_scale_ = np.where(constant, 1.0, scale)
        xs = (x - self.feature_mean_) / self.feature_scale_
        self.coef_, self.intercept_ = _logistic_regression(xs, y, float(self.l2))
        logger.info(
            "fusion-learned: meta-model on %d pool rows (%d positives): %s",
            y.size,
            int(y.sum()),
            ", ".join(f"{n}={c:+.3f}" for n, c in zip(self.feature_names(), self.coef_, strict=True)),
        )

    def _score(self, users: I64, history: Interactions) -> F32:
        seen = seen_rows(users, history)
        scores = self._component_scores(self.components_, users, history)
        h = np.log1p(seen.sum(axis=1).astype(np.float64))[:, None]  # [B, 1]
        n_base = 2 * len(scores)
        coef, mean, scale = self.coef_, self.feature_mean_, self.feature_scale_
        # the h-plane and the constant parts of every standardised feature, then one plane at a time
        out = np.full((users.size, 1), float(self.intercept_[0])) + coef[-1] * (h - mean[-1]) / scale[-1]
        out = out - float(np.sum(coef[:-1] * mean[:-1] / scale[:-1]))
        out = np.broadcast_to(out, (users.size, self.n_items_)).copy()
        for f, plane in enumerate(self._base_planes(scores, seen)):
            g = n_base + f  # the plane's h-interaction feature
            out += (coef[f] / scale[f] + coef[g] / scale[g] * h) * plane
        # pool items first: every other item is shifted below the row's lowest pool score
        pool = self._pool(scores, seen)
        low = np.where(pool, out, np.inf).min(axis=1, keepdims=True)
        high = np.where(pool, -np.inf, out).max(axis=1, keepdims=True)
        shift = np.where(np.isfinite(low) & np.isfinite(high), np.maximum(high - low, 0.0) + 1.0, 0.0)
        out -= np.where(pool, 0.0, shift)
        return out.astype(np.float32)


def _hold_out_last(train: Interactions) -> tuple[Interactions, Interactions]:
    """Each user's last interaction (users with >= 2) as validation; the rest for fitting."""
    order = train.chronological_order()
    users = train.user[order]
    last = np.flatnonzero(np.r_[users[1:] != users[:-1], True])  # last row of each user, sorted order
    counts = np.bincount(users, minlength=train.n_users)
    last = last[counts[users[last]] >= 2]
    hold = np.zeros(len(train), dtype=bool)
    hold[order[last]] = True
    return train.select(~hold), train.select(hold)


def _logistic_regression(x: F64, y: F64, l2: float) -> tuple[F64, F64]:
    """Class-balanced L2 logistic regression (scikit-learn, L-BFGS); returns ``(coef [F], intercept [1])``.

    Minimises ``sum_i s_i log(1 + exp(-y~_i (x_i coef + b))) + 0.5 * l2 * ||coef||^2 / n_pos`` with
    ``s_i = 0.5 / n_class(i)`` (each class weighs one half) and the intercept unpenalised; that is
    scikit-learn's objective ``C sum_i s_i loss_i + 0.5 ||coef||^2`` with ``C = n_pos / l2``
    (``C = inf``, no penalty, for ``l2 = 0``).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    n_pos = float(y.sum())
    weight = np.where(y > 0, 0.5 / n_pos, 0.5 / (y.size - n_pos))  # each class weighs one half
    c = np.inf if l2 == 0.0 else n_pos / l2
    model = LogisticRegression(C=c, tol=1e-8, max_iter=1000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(x, y.astype(np.int64), sample_weight=weight)
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning):
            logger.warning("fusion-learned: L-BFGS stopped early: %s", warning.message)
    coef = np.asarray(model.coef_, dtype=np.float64).reshape(-1)
    return coef.copy(), np.asarray(model.intercept_, dtype=np.float64).reshape(1).copy()
