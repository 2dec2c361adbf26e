"""A simulator of the online loop, built from a real dataset.

The world:

* **ground truth.** A model fitted on the whole user-item matrix (every interaction of the dataset)
  gives an affinity ``s(u, i)``: a rank-``r`` truncated SVD (``ground_truth="svd"``, Cremonesi, Koren &
  Turrin 2010) or, from another family, EASE's item-item regression (``"ease"``, Steck 2019) or any
  registered model. The click probability is ``p(u, i) = sigmoid(a * z(u, i) + b)`` with ``z`` the
  affinity standardised per user and ``a, b`` solved so that the mean of each user's ``k`` best items
  is ``top_ctr`` and the mean over all pairs is ``base_ctr`` (realistic CTRs).
* **position bias.** Position ``j`` (0-based) is examined with probability ``(j + 1) ** -position_decay``;
  a shown item is clicked when examined and liked: ``P(click) = exam_j * p(u, i)`` (the examination
  hypothesis, Richardson et al. 2007). Only the world knows this curve.
* **new items.** A ``cold_fraction`` of the items is held back and released over the first
  ``arrival_end`` share of the horizon: the items first interacted with last when the data has time
  stamps (``arrival="time"``), a random set otherwise.
* **what the recommender knows at the start.** The earliest ``observed_fraction`` of each user's
  interactions with the initially available items. Everything else exists only in the ground truth.
* **users** arrive uniformly at random; each sees a slate of ``k`` items.

The recommender: a model (by default :class:`~explorec.models.svd.FoldInSVD`; any registered model
name works, and models that read item text get the dataset's catalogue) is fitted on what is known and
refitted every ``refit_every`` steps on that plus every click it caused. Its scores are standardised
per user and turned into click-probability estimates by a position-based click model
(:func:`fit_click_model`) refitted at every refit on the impressions logged so far: it estimates the
examination curve jointly with the score calibration from (score, position, click) alone, and that
estimate, never the world's curve, is what position-aware policies receive (before the first fit they
use ``examination_prior``, flat by default). With ``swap_share > 0`` the policy is wrapped in
:class:`~explorec.policies.swap.PositionSwap`: that share of slates gets two positions swapped at
random (propensities include the swap), and the curve is estimated from the swaps
(:func:`~explorec.evaluation.position_bias.harvest_examination`, intervention harvesting), which the
recommender's score cannot bias; the click model then fits only the calibration given that curve.
Either curve is constrained to be non-increasing (``monotone_examination``). The ``n_candidates``
best available items the user
has not interacted with, plus the ``n_fresh`` newest released items, go to the policy, which picks the
slate and learns from the feedback (``policy.update``). The candidates reach the policy as a
:class:`~explorec.types.CandidateFrame` with the columns the policy declares
(``policy.columns_needed()``), built by the pipeline's one column builder
(:func:`explorec.pipeline.build_columns`): ``features`` is ``[1, p_hat, new, cos, new * cos,
v_i * q_u]`` with ``v_i`` the item's (reduced) vector from the language model and ``q_u`` the user's
profile (mean vector of the items they are known to like); ``arm_features`` (the hybrid LinUCB's
per-item part) is ``[1]`` or ``[1, w_u]`` (``w_u`` the user's factor in a low-rank SVD of what the
recommender knows; ``arm_features``), so that each item, new ones included, learns its own bias (and
taste) from its impressions (Li et al. 2010's hybrid model). Every shown slate is recorded as an
:class:`~explorec.impressions.ImpressionRecord` (``SimulationResult.impressions``), the log format
the service and the off-policy estimators share.

Outputs per step: clicks, the expected reward of the slate and of the oracle (the ``k`` items of
largest true ``p`` among those available, in that order — optimal under decreasing examination),
their difference (pseudo-regret, 0 for :class:`OraclePolicy`), impressions and clicks of cold items,
and the number of distinct items shown so far (coverage). All randomness of the world (arrivals,
clicks via common random numbers, the cold set) comes from the simulator's ``seed``; the policy has
its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq, minimize

from explorec.data.interactions import Catalog, Interactions
from explorec.errors import ConfigError, DataError, check_positive_int, check_range
from explorec.evaluation.ope import BanditLog
from explorec.evaluation.position_bias import harvest_examination, monotone_curve
from explorec.impressions import ImpressionRecord, to_bandit_log
from explorec.models.base import Recommender
from explorec.models.svd import FoldInSVD
from explorec.models.svd import truncated_svd as _svd
from explorec.pipeline import build_columns, user_profile
from explorec.policies.base import Policy, feedback_for_slate
from explorec.policies.greedy import Greedy
from explorec.policies.linucb import HybridLinUCB, LinUCB
from explorec.policies.swap import SWAP_SCHEMES, PositionSwap
from explorec.policies.thompson import LinearTS
from explorec.ranking import mask_matrix, top_k
from explorec.types import CandidateFrame

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _sigmoid(x: npt.ArrayLike) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64))), dtype=np.float64)


# ---------------------------------------------------------------------- ground truth
#: ground-truth families besides any registered model name
GROUND_TRUTHS = ("svd", "ease")


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """Click probabilities ``p(u, i) = sigmoid(scale * z(u, i) + bias)``.

    ``z(u, i)`` is an affinity standardised per user over the simulated catalogue (mean 0, standard
    deviation 1 for every user), so every user has a few strongly preferred items whatever their
    activity in the data. The affinity comes from a model fitted on every interaction of the data:

    * ``"svd"``: a rank-``rank`` truncated SVD ``U S V^T`` (Cremonesi, Koren & Turrin 2010);
    * ``"ease"``: EASE's item-item regression ``x_u B`` (Steck 2019), a full-rank linear model from
      another family than the SVD, so that the default in-loop recommender (fold-in PureSVD) is not
      scored against its own model class;
    * any other registered model name: that model's scores of every user with all of the data as
      history (slow for the neural models).

    Attributes
    ----------
    affinity : float64[n_users, n_items]
        ``z(u, i)``.
    scale, bias : float
    family : str
    """

    affinity: FloatArray
    scale: float
    bias: float
    family: str = "svd"

    @classmethod
    def fit(
        cls,
        data: Interactions,
        *,
        family: str = "svd",
        rank: int = 32,
        params: dict[str, Any] | None = None,
        catalog: Catalog | None = None,
        top_ctr: float = 0.3,
        base_ctr: float = 0.01,
        k: int = 10,
        seed: int = 0,
    ) -> GroundTruth:
        """Fit ``family`` on every interaction of ``data`` and calibrate to the two target click rates.

        Parameters
        ----------
        family : str
            ``"svd"`` or a registered model name (``"ease"``, ...).
        rank : int
            Rank of the ``"svd"`` family.
        params : dict, optional
            Hyper-parameters of a model family (``"ease"`` defaults to ``l2=500``).
        catalog : Catalog, optional
            Passed to the model's ``fit`` (text models need it).
        """
        check_range("top_ctr", top_ctr, 1e-6, 1 - 1e-6)
        check_range("base_ctr", base_ctr, 1e-6, top_ctr)
        x = data.to_csr()
        if family == "svd":
            u, s, v = _svd(x, rank, seed)
            raw = (u * s) @ v.T  # [n_users, n_items]
        else:
            from explorec.models.registry import MODELS, make_model

            if family not in MODELS:
                raise ConfigError(
                    f"ground_truth must be 'svd' or a registered model ({', '.join(sorted(MODELS))}), "
                    f"got {family!r}"
                )
            model = make_model(family, **dict(params or {})).fit(data, catalog)
            users = np.arange(data.n_users, dtype=np.int64)
            raw = np.concatenate(
                [model.score(users[i : i + 1024], history=data) for i in range(0, users.size, 1024)]
            ).astype(np.float64)
        mean = raw.mean(axis=1, keepdims=True)
        sd = raw.std(axis=1, keepdims=True)
        z = (raw - mean) / np.where(sd > 0, sd, 1.0)  # [n_users, n_items]
        rng = np.random.default_rng(seed)
        active = np.flatnonzero(np.diff(x.indptr) > 0)
        sample = rng.choice(active, size=min(active.size, 300), replace=False)
        scale, bias = _calibrate(z[sample], top_ctr=top_ctr, base_ctr=base_ctr, k=k)
        return cls(z, scale, bias, family)

    @property
    def n_items(self) -> int:
        return int(self.affinity.shape[1])

    def probs(self, user: int, items: npt.ArrayLike | None = None) -> FloatArray:
        """float64[m]: click probabilities of ``user`` for ``items`` (all items when None)."""
        z = self.affinity[user] if items is None else self.affinity[user, np.asarray(items, dtype=np.int64)]
        return _sigmoid(self.scale * z + self.bias)


def _calibrate(z: FloatArray, *, top_ctr: float, base_ctr: float, k: int) -> tuple[float, float]:
    """``(a, b)`` with ``mean(sigmoid(a z + b)) = base_ctr`` over ``z`` [m, n_items] and the mean over
    each row's ``k`` largest values ``= top_ctr``."""
    k_eff = min(k, z.shape[1])
    top = -np.sort(-z, axis=1)[:, :k_eff]  # [m, k]
    span = float(np.abs(z).max()) + 1.0

    def bias_for(a: float) -> float:
        bound = a * span + 50.0
        return float(brentq(lambda b: _sigmoid(a * z + b).mean() - base_ctr, -bound, bound))

    def gap(a: float) -> float:
        return float(_sigmoid(a * top + bias_for(a)).mean() - top_ctr)

    lo, hi = 1e-3, 1.0
    while gap(hi) < 0 and hi < 100.0:
        hi *= 2.0
    if gap(lo) > 0 or gap(hi) < 0:
        raise DataError(
            f"cannot calibrate the ground truth to top_ctr={top_ctr}, base_ctr={base_ctr} with k={k_eff} "
            f"of {z.shape[1]} items: raise base_ctr or lower top_ctr"
        )
    a = float(brentq(gap, lo, hi))
    return a, bias_for(a)


class OraclePolicy(Greedy):
    """Shows the ``k`` available items of largest true click probability (the simulator feeds it the
    ground truth over every available item); its regret is 0 by construction."""

    name = "oracle"


# ---------------------------------------------------------------------- results
@dataclass(eq=False)
class SimulationResult:
    """Per-step traces of one run.

    Attributes
    ----------
    policy : str
    seed : int
        Seed of the simulator (the world).
    clicks : float64[T]
        Clicks in each step's slate.
    expected : float64[T]
        Expected clicks of the shown slate under the ground truth.
    oracle : float64[T]
        Expected clicks of the oracle's slate.
    cold_impressions, cold_clicks : float64[T]
        Impressions and clicks of held-back (cold) items per step.
    distinct_shown : float64[T]
        Distinct items shown so far.
    seconds : float
    log : dict of arrays
        The impression records flattened (user, item, position, click, propensity, step).
    examination_steps : int64[R]
        Steps at which the position-bias estimate was refitted (and handed to the policy).
    examination_estimates : float64[R, k]
        The estimate fitted at each of those steps from the impressions logged before it.
    true_examination : float64[k]
        The world's examination curve, kept here for reporting the estimate's error only.
    impressions : tuple of ImpressionRecord
        Every shown slate as the impression record the service stores (own scores, propensities,
        explored flags, policy name and parameters, propensity method, model version = refit).
    rewards : tuple of float64[len(record)]
        The clicks of each record's slots; ``log`` is these two flattened, one row per slot.
    """

    policy: str
    seed: int
    clicks: FloatArray
    expected: FloatArray
    oracle: FloatArray
    cold_impressions: FloatArray
    cold_clicks: FloatArray
    distinct_shown: FloatArray
    seconds: float
    propensity_method: str = ""
    log: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    examination_steps: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    examination_estimates: FloatArray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    true_examination: FloatArray = field(default_factory=lambda: np.zeros(0), repr=False)
    impressions: tuple[ImpressionRecord, ...] = field(default=(), repr=False)
    rewards: tuple[FloatArray, ...] = field(default=(), repr=False)

    def bandit_log(self, n_actions: int) -> BanditLog:
        """The impression records with their clicks as the off-policy estimators' input
        (:func:`explorec.impressions.to_bandit_log`); ``n_actions`` is the simulated catalogue size."""
        return to_bandit_log(
            self.impressions, self.rewards, n_actions=n_actions, source=f"simulate {self.policy}"
        )

    @property
    def regret(self) -> FloatArray:
        """Per-step pseudo-regret ``oracle - expected`` (>= 0)."""
        return np.asarray(self.oracle - self.expected, dtype=np.float64)

    def summary(self) -> dict[str, Any]:
        n = self.clicks.shape[0]
        return {
            "policy": self.policy,
            "seed": self.seed,
            "steps": n,
            "clicks": float(self.clicks.sum()),
            "expected_clicks": float(self.expected.sum()),
            "oracle_clicks": float(self.oracle.sum()),
            "regret": float(self.regret.sum()),
            "ctr_per_slate": float(self.clicks.mean()) if n else 0.0,
            "cold_impressions": float(self.cold_impressions.sum()),
            "cold_clicks": float(self.cold_clicks.sum()),
            "coverage_items": float(self.distinct_shown[-1]) if n else 0.0,
            "seconds": self.seconds,
            "propensity_method": self.propensity_method,
            "examination_estimate": (
                self.examination_estimates[-1].tolist() if len(self.examination_estimates) else None
            ),
            "examination_error": self.examination_error,
        }

    @property
    def examination_error(self) -> float | None:
        """Largest absolute error of the last position-bias estimate (None when none was fitted)."""
        if not len(self.examination_estimates) or not self.true_examination.size:
            return None
        last = self.examination_estimates[-1]
        m = min(last.size, self.true_examination.size)
        return float(np.abs(last[:m] - self.true_examination[:m]).max())

    def to_dict(self, *, traces: bool = False) -> dict[str, Any]:
        out = self.summary()
        if traces:
            for name in ("clicks", "expected", "oracle", "cold_impressions", "cold_clicks", "distinct_shown"):
                out[name] = getattr(self, name).tolist()
        return out


# ---------------------------------------------------------------------- the simulator
@dataclass(frozen=True)
class _World:
    users: IntArray  # [T] arriving user per step
    uniforms: FloatArray  # [T, k] common random numbers for clicks
    release: IntArray  # [n_items] step at which each item becomes available (-1: from the start)
    cold: npt.NDArray[np.bool_]  # [n_items]
    observed: Interactions  # what the recommender knows at step 0
    fresh_order: IntArray  # cold items by release step


class Simulator:
    """The online loop over a real dataset; see the module docstring.

    Parameters
    ----------
    data : Interactions
        Every interaction of the dataset (the ground truth is fitted on all of it).
    catalog : Catalog, optional
        The dataset's catalogue (aligned with ``data``'s items); restricted to the simulated items and
        passed to every ``fit`` of the in-loop model and of a model ground truth, so that text and
        language-model recommenders (textknn, lm-adapter, sasrec with text items) run in the loop.
    item_vectors : float[n_items, dim], optional
        Item vectors (e.g. ``explorec.encoders.item_vectors(catalog)``) for the linear policies'
        features; without them the features use the SVD item factors of the observed data (cold
        items then get zero vectors).
    max_items : int or None
        The simulated catalogue: the ``max_items`` items with the most interactions (None: every item
        with an interaction). A widget-sized catalogue lets each item be shown often enough within
        a few thousand steps for exploration to be learned from.
    model : str or Recommender
        The recommender refitted during the run (a registered name, or an instance whose
        parameters are copied for each run). Default: :class:`~explorec.models.svd.FoldInSVD`.
    model_params : dict, optional
        Hyper-parameters of a model given by name.
    n_steps, k : int
        Horizon (one user per step) and slate length.
    n_candidates, n_fresh : int
        Candidates passed to the policy: the best-scored available items, plus the newest released ones.
    cold_fraction, arrival, arrival_end : float, str, float
        Share of items held back, how they are chosen (``"time"``/``"random"``), and the share of the
        horizon over which they are released.
    observed_fraction : float
        Share of each user's (earliest) interactions the recommender starts with.
    refit_every : int
        Steps between model refits.
    position_decay : float
        The world's examination of position ``j`` is ``(j + 1) ** -position_decay``. Policies never
        see it: they get ``examination_prior`` and then the estimate refitted from the logged clicks.
    examination_prior : sequence of float, optional
        The examination curve assumed before any click is logged (default: flat, i.e. no position
        bias assumed), k values in (0, 1].
    estimate_examination : bool
        Refit the position-based click model on the impressions logged so far at every refit and
        hand its curve to the policy (default); False keeps the prior for the whole run.
    swap_share : float in [0, 1)
        Share of slates in which two positions are swapped at random
        (:class:`~explorec.policies.swap.PositionSwap` around the policy; 0: none). When the log holds
        swaps, the examination curve is estimated from them (intervention harvesting) and the click
        model fits the score calibration given that curve.
    swap_scheme : {"top", "pair"}
        Which positions a swap exchanges: position 0 with a uniform other one (default), or a uniform
        adjacent pair.
    monotone_examination : bool
        Constrain the estimated curve to be non-increasing (isotonic regression; default True).
    ground_truth : str
        ``"svd"`` (default), ``"ease"`` or any registered model name; see :class:`GroundTruth`.
    gt_params : dict, optional
        Hyper-parameters of a model ground truth.
    top_ctr, base_ctr, gt_rank : float, float, int
        Ground-truth calibration and the rank of the ``"svd"`` ground truth.
    feature_dim : int
        Dimensions the item vectors are reduced to (PCA) for the linear features.
    user_dim : int
        Dimensions of the user factor in the ``arm_features`` column (the hybrid LinUCB's per-item part).
    arm_features : {"bias", "user"}
        Per-item part of those features: ``[1]`` (each item learns its own bias) or ``[1, w_u]`` (its
        own bias and taste over the user factors).
    seed : int
        Seeds the world (cold set, arrivals, clicks, ground-truth SVD start).
    progress : bool
        tqdm progress bar over steps.
    """

    def __init__(
        self,
        data: Interactions,
        *,
        catalog: Catalog | None = None,
        item_vectors: npt.ArrayLike | None = None,
        model: str | Recommender | None = None,
        model_params: dict[str, Any] | None = None,
        max_items: int | None = 1000,
        n_steps: int = 3000,
        k: int = 10,
        n_candidates: int = 100,
        n_fresh: int = 20,
        cold_fraction: float = 0.2,
        arrival: str = "auto",
        arrival_end: float = 0.5,
        observed_fraction: float = 0.5,
        refit_every: int = 250,
        position_decay: float = 0.5,
        examination_prior: Sequence[float] | None = None,
        estimate_examination: bool = True,
        swap_share: float = 0.0,
        swap_scheme: str = "top",
        monotone_examination: bool = True,
        ground_truth: str = "svd",
        gt_params: dict[str, Any] | None = None,
        top_ctr: float = 0.3,
        base_ctr: float = 0.01,
        gt_rank: int = 32,
        feature_dim: int = 16,
        user_dim: int = 8,
        arm_features: str = "bias",
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        self.n_steps = check_positive_int("n_steps", n_steps)
        self.k = check_positive_int("k", k)
        self.n_candidates = check_positive_int("n_candidates", n_candidates)
        if n_fresh < 0:
            raise ConfigError(f"n_fresh must be >= 0, got {n_fresh!r}")
        self.n_fresh = n_fresh
        self.cold_fraction = check_range("cold_fraction", cold_fraction, 0.0, 0.9)
        if arrival not in ("auto", "time", "random"):
            raise ConfigError(f"arrival must be 'auto', 'time' or 'random', got {arrival!r}")
        if arrival == "time" and not data.has_timestamps:
            raise ConfigError("arrival='time' needs interactions with time stamps")
        self.arrival = ("time" if data.has_timestamps else "random") if arrival == "auto" else arrival
        self.arrival_end = check_range("arrival_end", arrival_end, 0.0, 1.0)
        self.observed_fraction = check_range("observed_fraction", observed_fraction, 0.01, 1.0)
        self.refit_every = check_positive_int("refit_every", refit_every)
        self.position_decay = check_range("position_decay", position_decay, 0.0, 10.0)
        self.feature_dim = check_positive_int("feature_dim", feature_dim)
        self.user_dim = check_positive_int("user_dim", user_dim)
        if arm_features not in ("bias", "user"):
            raise ConfigError(f"arm_features must be 'bias' or 'user', got {arm_features!r}")
        self.arm_features = arm_features
        self.seed = seed
        self.progress = progress
        self.model = model
        self.model_params = dict(model_params or {})
        if len(data) == 0:
            raise DataError("Simulator: the interactions are empty")
        if catalog is not None and catalog.n_items != data.n_items:
            raise DataError(
                f"Simulator: catalog has {catalog.n_items} items, the interactions {data.n_items}"
            )
        self.max_items = max_items
        self.n_dataset_items = data.n_items
        self.items = self._catalogue(data, max_items)  # dataset item index of each simulated item
        self.data = _restrict(data, self.items)
        self.catalog = None if catalog is None else _restrict_catalog(catalog, self.items)
        # the world's examination curve: used to draw clicks and to score slates, never handed on
        self.examination = np.power(np.arange(self.k) + 1.0, -self.position_decay, dtype=np.float64)  # [k]
        self.examination_prior = _check_prior(examination_prior, self.k)
        self.estimate_examination = bool(estimate_examination)
        self.swap_share = check_range("swap_share", swap_share, 0.0, 0.999)
        if swap_scheme not in SWAP_SCHEMES:
            raise ConfigError(f"swap_scheme must be one of {', '.join(SWAP_SCHEMES)}, got {swap_scheme!r}")
        self.swap_scheme: Literal["top", "pair"] = "top" if swap_scheme == "top" else "pair"
        self.monotone_examination = bool(monotone_examination)
        self.ground_truth = GroundTruth.fit(
            self.data,
            family=ground_truth,
            rank=gt_rank,
            params=gt_params,
            catalog=self.catalog,
            top_ctr=top_ctr,
            base_ctr=base_ctr,
            k=self.k,
            seed=seed,
        )
        self.world = self._make_world()
        self.vectors = self._feature_vectors(item_vectors)

    # ------------------------------------------------------------------ setup
    @staticmethod
    def _catalogue(data: Interactions, max_items: int | None) -> IntArray:
        counts = data.item_counts()
        present = np.flatnonzero(counts > 0)
        if max_items is None or max_items >= present.size:
            return present.astype(np.int64)
        check_positive_int("max_items", max_items)
        order = present[np.lexsort((present, -counts[present]))]
        return np.sort(order[:max_items]).astype(np.int64)

    def _make_world(self) -> _World:
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, 17]))
        data = self.data
        n_items = data.n_items
        counts = data.item_counts()
        present = np.flatnonzero(counts > 0)
        n_cold = round(self.cold_fraction * present.size)
        if self.arrival == "time":
            first = np.full(n_items, np.inf)
            np.minimum.at(first, data.item, data.timestamp)
            order = present[np.lexsort((present, first[present]))]
            cold_items = order[present.size - n_cold :]  # latest first-interaction, in arrival order
        else:
            cold_items = rng.permutation(present)[:n_cold]
        release = np.full(n_items, -1, dtype=np.int64)
        horizon = self.arrival_end * self.n_steps
        release[cold_items] = np.floor(np.arange(n_cold) / max(n_cold, 1) * horizon).astype(np.int64)
        cold = np.zeros(n_items, dtype=bool)
        cold[cold_items] = True
        # the earliest observed_fraction of each user's interactions with warm items
        warm_rows = np.flatnonzero(~cold[data.item])
        warm = data.select(warm_rows)
        order = warm.chronological_order()
        users = warm.user[order]
        starts = np.searchsorted(users, users, side="left")
        rank_in_user = np.arange(users.size) - starts
        per_user = np.bincount(users, minlength=data.n_users)
        keep_n = np.maximum(1, np.floor(self.observed_fraction * per_user)).astype(np.int64)
        keep = rank_in_user < keep_n[users]
        observed = warm.select(order[keep])
        active = observed.active_users()
        arrivals = rng.choice(active, size=self.n_steps, replace=True).astype(np.int64)
        uniforms = rng.random((self.n_steps, self.k))
        logger.info(
            "simulator world: %d items (%d cold, arrival=%s), %d observed interactions of %d, %d users",
            n_items,
            n_cold,
            self.arrival,
            len(observed),
            len(data),
            active.size,
        )
        return _World(arrivals, uniforms, release, cold, observed, cold_items.astype(np.int64))

    def _feature_vectors(self, item_vectors: npt.ArrayLike | None) -> FloatArray:
        if item_vectors is None:
            _, _, v = _svd(self.world.observed.to_csr(), self.feature_dim, self.seed)
            out = v
        else:
            vec = np.asarray(item_vectors, dtype=np.float64)
            if vec.shape[0] != self.n_dataset_items:
                raise DataError(f"item_vectors has {vec.shape[0]} rows for {self.n_dataset_items} items")
            vec = vec[self.items]
            centred = vec - vec.mean(axis=0)
            dim = min(self.feature_dim, min(centred.shape) - 1)
            _, _, vt = np.linalg.svd(centred, full_matrices=False)
            out = centred @ vt[:dim].T  # PCA
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.asarray(out / np.where(norms > 0, norms, 1.0), dtype=np.float64)

    def _new_model(self) -> Recommender:
        if self.model is None:
            return FoldInSVD(**{"seed": self.seed, **self.model_params})
        if isinstance(self.model, str):
            from explorec.models.registry import make_model

            return make_model(self.model, **self.model_params)
        return type(self.model)(**self.model.get_params())

    # ------------------------------------------------------------------ features for linear policies
    def feature_dims(self) -> int:
        """Columns of the ``features`` frame column built here (the hybrid's ``shared_dim``)."""
        return 5 + self.vectors.shape[1]

    # ------------------------------------------------------------------ run
    def run(self, policy: Policy) -> SimulationResult:
        """Run the loop with ``policy`` (reset first) and return its traces.

        With ``swap_share > 0`` the policy runs inside a :class:`PositionSwap` and the result is named
        ``"<policy>+swap<share>"`` (e.g. ``"ucb+swap0.1"``).
        """
        policy.reset()
        world, gt, k = self.world, self.ground_truth, self.k
        n_items = self.data.n_items
        oracle_mode = isinstance(policy, OraclePolicy)
        label = policy.name
        if self.swap_share > 0 and not oracle_mode:
            policy = PositionSwap(
                policy=policy, share=self.swap_share, scheme=self.swap_scheme, seed=policy.seed
            )
            label = f"{label}+swap{self.swap_share:g}"
        # the frame columns the policy declares are built for it (build_columns), whatever its class
        needed = () if oracle_mode else policy.columns_needed()
        per_item = "arm_features" in needed
        user_vectors: dict[int, FloatArray] = {}
        set_cold = getattr(policy, "set_cold_items", None)
        known = world.observed.to_csr().tolil()  # users x items, what each user is known to have
        known_rows: list[set[int]] = [set(map(int, row)) for row in known.rows]
        click_users: list[int] = []
        click_items: list[int] = []
        click_steps: list[int] = []
        # clicks are stamped after everything observed, in step order (sequential models read the order)
        base_time = float(np.max(world.observed.timestamp)) + 1.0
        T = self.n_steps
        out = {
            name: np.zeros(T) for name in ("clicks", "expected", "oracle", "cold_imp", "cold_clk", "distinct")
        }
        shown_ever = np.zeros(n_items, dtype=bool)
        records: list[ImpressionRecord] = []
        rewards: list[FloatArray] = []
        imp_z: list[FloatArray] = []
        imp_pos: list[IntArray] = []
        imp_click: list[FloatArray] = []
        imp_refit: list[IntArray] = []
        imp_rank: list[IntArray] = []  # the policy's rank of each shown item (differs where swapped)
        # the recommender's click model, fitted on its own log only (the world's curve stays hidden)
        click_model = ClickModel(self.examination_prior, 0.3, -4.0, 0)
        estimate_steps: list[int] = []
        estimates: list[tuple[float, ...]] = []
        model: Recommender | None = None
        raw_scores: dict[int, FloatArray] = {}
        profiles: dict[int, FloatArray] = {}
        train = world.observed
        item_counts = train.item_counts()
        methods: set[str] = set()
        start = time.perf_counter()
        from explorec import progress as bars

        for t in bars.bar(range(T), desc=f"simulate {policy.name}", unit="step", show=self.progress):
            if t % self.refit_every == 0:
                if click_users:
                    clicks_data = Interactions(
                        np.array(click_users, dtype=np.int64),
                        np.array(click_items, dtype=np.int64),
                        base_time + np.array(click_steps, dtype=np.float64),
                        np.ones(len(click_users), dtype=np.float32),
                        self.data.user_ids,
                        self.data.item_ids,
                        has_timestamps=train.has_timestamps,
                    )
                    train = world.observed.concat(clicks_data)
                if not oracle_mode:
                    model = self._new_model().fit(train, self.catalog)
                    item_counts = train.item_counts()  # [n_items]: items without any are "new"
                    upcoming = np.unique(world.users[t : t + self.refit_every])
                    block = model.score(upcoming, history=train)  # [m, n_items]
                    raw_scores = {int(u): block[j].astype(np.float64) for j, u in enumerate(upcoming)}
                    profiles = {}
                    if per_item:
                        user_vectors = self._user_vectors(train, upcoming)
                        if self.arm_features == "bias":
                            user_vectors = {u: v[:1] for u, v in user_vectors.items()}
                    if imp_z:
                        click_model = self._fit_position_model(
                            click_model, imp_z, imp_pos, imp_rank, imp_click, imp_refit
                        )
                        estimate_steps.append(t)
                        estimates.append(click_model.examination)
                        if self.estimate_examination:
                            hand_examination(policy, click_model.examination)
            u = int(world.users[t])
            seen = np.fromiter(known_rows[u], dtype=np.int64) if known_rows[u] else np.zeros(0, np.int64)
            mask = ~mask_matrix([u], n_items, exclude=seen, available=world.release <= t)[0]  # [n_items]
            if set_cold is not None:
                set_cold(world.fresh_order[world.release[world.fresh_order] <= t])
            true_all = gt.probs(u)  # [n_items]
            open_items = np.flatnonzero(mask)
            best = open_items[top_k(true_all[open_items], k, tiebreak=open_items)]
            out["oracle"][t] = float(self.examination[: best.size] @ true_all[best])
            if oracle_mode:
                cand = open_items
                scores = true_all[cand]
            else:
                raw = raw_scores[u]
                vals = raw[open_items]
                sd = vals.std()
                z_all = (raw - vals.mean()) / (sd if sd > 0 else 1.0)
                top = open_items[top_k(z_all[open_items], self.n_candidates, tiebreak=open_items)]
                fresh_pool = world.fresh_order[
                    (world.release[world.fresh_order] <= t) & mask[world.fresh_order]
                ]
                fresh = fresh_pool[::-1][: self.n_fresh]
                cand = np.concatenate([top, fresh[~np.isin(fresh, top)]])
                z = z_all[cand]
                scores = click_model.relevance(z)
            frame = CandidateFrame(cand.astype(np.int64), scores.astype(np.float32))
            if needed:
                if u not in profiles:
                    profiles[u] = user_profile(self.vectors, seen)
                # per-item part ("arm_features"): [1] or [1, user factor] -> each item learns its own
                # bias (and taste) from its impressions
                frame = build_columns(
                    frame,
                    needed,
                    item_vectors=self.vectors,
                    profile=profiles[u],
                    item_counts=item_counts,
                    arm=user_vectors.get(u),
                    score_feature=scores,
                )
            slate = policy.select(frame, k)
            methods.add(slate.propensity_method)
            m = len(slate)
            p_true = true_all[slate.items]
            exam = self.examination[:m]
            clicked = world.uniforms[t, :m] < exam * p_true
            out["clicks"][t] = clicked.sum()
            out["expected"][t] = float(exam @ p_true)
            is_cold = world.cold[slate.items]
            out["cold_imp"][t] = is_cold.sum()
            out["cold_clk"][t] = (is_cold & clicked).sum()
            shown_ever[slate.items] = True
            out["distinct"][t] = shown_ever.sum()
            policy.update(
                feedback_for_slate(slate, clicked.astype(np.float64), user=u, frame=frame, policy=policy)
            )
            if not oracle_mode:
                imp_z.append(z[_rows_of(cand, slate.items)])
                imp_pos.append(np.arange(m, dtype=np.int64))
                imp_click.append(clicked.astype(np.float64))
                imp_refit.append(np.full(m, t // self.refit_every, dtype=np.int64))
                ranks = np.arange(m, dtype=np.int64)
                if slate.swap is not None:
                    a, b = slate.swap
                    ranks[[a, b]] = ranks[[b, a]]
                imp_rank.append(ranks)
            for item in slate.items[clicked]:
                known_rows[u].add(int(item))
                click_users.append(u)
                click_items.append(int(item))
                click_steps.append(t)
            records.append(
                ImpressionRecord.from_slate(
                    slate,
                    recommendation_id=f"sim-{self.seed}-{t}",
                    user=u,
                    user_id=str(self.data.user_ids[u]),
                    item_ids=[str(i) for i in self.data.item_ids[slate.items]],
                    model_version="oracle" if oracle_mode else f"refit-{t // self.refit_every}",
                    timestamp=float(t),
                    k=k,
                )
            )
            rewards.append(clicked.astype(np.float64))
        seconds = time.perf_counter() - start
        log = _log_columns(records, rewards)
        return SimulationResult(
            label,
            self.seed,
            out["clicks"],
            out["expected"],
            out["oracle"],
            out["cold_imp"],
            out["cold_clk"],
            out["distinct"],
            seconds,
            ",".join(sorted(methods)),
            log,
            np.array(estimate_steps, dtype=np.int64),
            np.array(estimates, dtype=np.float64).reshape(len(estimates), self.k),
            self.examination.copy(),
            tuple(records),
            tuple(rewards),
        )

    def _fit_position_model(
        self,
        current: ClickModel,
        z: Sequence[FloatArray],
        positions: Sequence[IntArray],
        ranks: Sequence[IntArray],
        clicks: Sequence[FloatArray],
        refits: Sequence[IntArray],
    ) -> ClickModel:
        """The click model refitted on the log so far. When the log holds swapped slates, the curve
        comes from the swaps (:func:`harvest_examination`, which the score cannot bias) and only the
        calibration is fitted given it; otherwise both are fitted jointly (:func:`fit_click_model`)."""
        zz, pos, clk = np.concatenate(z), np.concatenate(positions), np.concatenate(clicks)
        rank, groups = np.concatenate(ranks), np.concatenate(refits)
        fit_exam = self.estimate_examination
        start = current
        if fit_exam and np.any(rank != pos):
            swapped = harvest_examination(
                pos, rank, clk, k=self.k, start=current.examination, monotone=self.monotone_examination
            )
            start = replace(current, examination=swapped.examination)
            fit_exam = False
        return fit_click_model(
            zz,
            pos,
            clk,
            groups=groups,
            start=start,
            fit_examination=fit_exam,
            monotone=self.monotone_examination,
        )

    def _user_vectors(self, train: Interactions, users: IntArray) -> dict[int, FloatArray]:
        """``[1, w_u]`` per user: ``w_u`` the unit projection of the user's known items on the top
        ``user_dim`` right singular vectors of what the recommender knows (refreshed at each refit)."""
        x = train.to_csr()
        _, _, v = _svd(x, self.user_dim, self.seed)
        proj = np.asarray(x[users] @ v)  # [m, user_dim]
        norms = np.linalg.norm(proj, axis=1, keepdims=True)
        proj = proj / np.where(norms > 0, norms, 1.0)
        return {int(u): np.concatenate([[1.0], proj[j]]) for j, u in enumerate(users)}


def _restrict(data: Interactions, items: IntArray) -> Interactions:
    """``data`` on the catalogue ``items`` only, re-indexed 0..len(items)-1, users with interactions kept."""
    new_index = np.full(data.n_items, -1, dtype=np.int64)
    new_index[items] = np.arange(items.size)
    rows = np.flatnonzero(new_index[data.item] >= 0)
    users, user_index = np.unique(data.user[rows], return_inverse=True)
    return Interactions(
        user_index.astype(np.int64),
        new_index[data.item[rows]],
        data.timestamp[rows],
        data.weight[rows],
        data.user_ids[users],
        data.item_ids[items],
        None if data.rating is None else data.rating[rows],
        data.has_timestamps,
    )


def _log_columns(records: Sequence[ImpressionRecord], rewards: Sequence[FloatArray]) -> dict[str, np.ndarray]:
    """The impression records as flat columns, one row per shown slot (step = the record's time)."""
    if not records:
        return {c: np.zeros(0) for c in ("step", "user", "item", "position", "click", "propensity")}
    sizes = [len(r) for r in records]
    return {
        "step": np.repeat([int(r.timestamp) for r in records], sizes),
        "user": np.repeat([r.user for r in records], sizes),
        "item": np.concatenate([np.asarray(r.items, dtype=np.int64) for r in records]),
        "position": np.concatenate([np.asarray(r.positions, dtype=np.int64) for r in records]),
        "click": np.concatenate(rewards),
        "propensity": np.concatenate([np.asarray(r.propensities) for r in records]),
    }


def _rows_of(candidates: IntArray, items: IntArray) -> IntArray:
    pos = {int(c): j for j, c in enumerate(candidates)}
    return np.array([pos[int(i)] for i in items], dtype=np.int64)


def _restrict_catalog(catalog: Catalog, items: IntArray) -> Catalog:
    """``catalog`` on the simulated items only, in the order of ``items``."""
    return Catalog(
        catalog.item_ids[items],
        {name: values[items] for name, values in catalog.fields.items()},
        {name: np.asarray(values)[items] for name, values in catalog.attributes.items()},
        None if catalog.arrival is None else catalog.arrival[items],
    )


def _check_prior(prior: Sequence[float] | None, k: int) -> tuple[float, ...]:
    if prior is None:
        return (1.0,) * k
    values = tuple(float(p) for p in prior)
    if len(values) != k or not all(0.0 < p <= 1.0 for p in values):
        raise ConfigError(f"examination_prior must hold k={k} values in (0, 1], got {list(values)}")
    return values


# ---------------------------------------------------------------------- position bias
@dataclass(frozen=True)
class ClickModel:
    """A position-based click model ``P(click) = examination[pos] * sigmoid(f(z))``.

    ``z`` is the recommender's own standardised score of the shown item and ``f`` a piecewise-linear
    logit, ``f(z) = bias + scale * z + sum_j slopes[j] * max(0, z - knots[j])``, so ``sigmoid(f(z))``
    is the recommender's calibrated click probability once examined (the examination hypothesis,
    Richardson et al. 2007; Chuklin, Markov & de Rijke 2015, ch. 3). The knots let the calibration
    bend where the score's relation to clicks does, which a straight logit would otherwise push into
    the position curve.

    Attributes
    ----------
    examination : tuple of float
        Examination probability per position (position 0 first; ``examination[0] = 1`` once fitted,
        which fixes the scale the click model cannot identify otherwise).
    scale, bias : float
    knots, slopes : tuple of float
        Knots of the piecewise-linear logit (quantiles of the logged scores) and the change of slope
        at each.
    n_impressions : int
        Impressions the fit used.
    """

    examination: tuple[float, ...]
    scale: float
    bias: float
    n_impressions: int = 0
    knots: tuple[float, ...] = ()
    slopes: tuple[float, ...] = ()

    def relevance(self, z: npt.ArrayLike) -> FloatArray:
        """``sigmoid(f(z))``: the click probability of an examined item with score ``z``."""
        zz = np.asarray(z, dtype=np.float64)
        return _sigmoid(_logit_design(zz, self.knots) @ np.array([self.bias, self.scale, *self.slopes]))


def _logit_design(z: FloatArray, knots: Sequence[float]) -> FloatArray:
    """float64[n, 2 + len(knots)]: ``[1, z, max(0, z - knot_j)...]``."""
    cols = [np.ones_like(z), z] + [np.maximum(z - kn, 0.0) for kn in knots]
    return np.stack(cols, axis=-1)


def fit_click_model(
    z: npt.ArrayLike,
    positions: npt.ArrayLike,
    clicks: npt.ArrayLike,
    *,
    start: ClickModel,
    groups: npt.ArrayLike | None = None,
    fit_examination: bool = True,
    n_knots: int = 4,
    monotone: bool = False,
) -> ClickModel:
    """Maximum-likelihood position-based click model from a click log (L-BFGS-B, analytic gradient).

    Fits the calibration ``f`` (see :class:`ClickModel`; ``n_knots`` knots at evenly spaced
    quantiles of the logged ``z``) and, with ``fit_examination``, the examination of every position
    after the first (``examination[0] = 1``; the others in ``[0.0025, 0.9975]``, parametrised by their
    logits) jointly, so the relevance of the items shown at each position is accounted for by the
    score ``z`` rather than read as position bias. Positions absent from the log keep ``start``'s
    value. Only logged quantities enter: the score the recommender saw, where the item was shown and
    whether it was clicked.

    The estimate is consistent when ``f`` describes the clicks well and the positions are not a
    function of ``z`` alone; under a deterministic ranking whose order the calibration does not
    capture, some relevance is still read as position bias (randomised slates, as exploring policies
    show, reduce it).

    Parameters
    ----------
    z : float[n]
        The recommender's standardised score of each shown item.
    positions : int[n]
        0-based display positions, below ``len(start.examination)``.
    clicks : float[n]
        1 for a click, 0 otherwise.
    start : ClickModel
        Starting point (the previous fit, or the prior); its length sets the number of positions.
    groups : int[n], optional
        Which scorer produced each ``z`` (the simulator passes the refit): every group gets its own
        ``bias`` and ``scale`` (the knot terms are shared), since a refitted model's scores mean
        something else. The returned model carries the calibration of the largest group id.
    fit_examination : bool
        False keeps ``start.examination`` and fits the calibration only.
    n_knots : int
        Knots of the piecewise-linear calibration (0: a straight logistic calibration).
    monotone : bool
        Constrain the fitted curve to be non-increasing: when the free fit is not, it is projected
        (isotonic regression weighted by the impressions per position,
        :func:`~explorec.evaluation.position_bias.monotone_curve`) and the calibration refitted
        given the projected curve.
    """
    zz = np.asarray(z, dtype=np.float64)
    pos = np.asarray(positions, dtype=np.int64)
    c = np.asarray(clicks, dtype=np.float64)
    k = len(start.examination)
    if not (zz.shape == pos.shape == c.shape) or zz.ndim != 1:
        raise DataError(
            f"click log: z, positions and clicks differ in shape ({zz.shape}, {pos.shape}, {c.shape})"
        )
    if pos.size and (pos.min() < 0 or pos.max() >= k):
        raise DataError(f"click log: positions must lie in [0, {k}), got [{pos.min()}, {pos.max()}]")
    if n_knots < 0:
        raise ConfigError(f"n_knots must be >= 0, got {n_knots}")
    if zz.size == 0:
        return start
    if groups is None:
        group = np.zeros(zz.size, dtype=np.int64)
    else:
        group = np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1).astype(np.int64)
        if group.shape != zz.shape:
            raise DataError(f"click log: groups has shape {np.shape(groups)}, z {zz.shape}")
    n_groups = int(group.max()) + 1
    present = np.bincount(pos, minlength=k) > 0
    free = np.flatnonzero(present & (np.arange(k) > 0)) if fit_examination else np.zeros(0, np.int64)
    base = np.array(start.examination, dtype=np.float64)
    if fit_examination:
        base[0] = 1.0
    knots = tuple(float(q) for q in np.unique(np.quantile(zz, np.linspace(0, 1, n_knots + 2)[1:-1])))
    if zz.size < 20 * (len(knots) + 2):
        knots = ()  # too few impressions to place knots
    one_hot = np.zeros((zz.size, n_groups))
    one_hot[np.arange(zz.size), group] = 1.0
    # [per-group bias | per-group scale | shared knot terms]
    design = np.hstack([one_hot, one_hot * zz[:, None], _logit_design(zz, knots)[:, 2:]])  # [n, d]
    d = design.shape[1]
    eps = 1e-9

    def unpack(theta: FloatArray) -> FloatArray:
        exam = base.copy()
        exam[free] = _sigmoid(theta[d:])
        return exam

    def nll(theta: FloatArray) -> tuple[float, FloatArray]:
        exam = unpack(theta)
        g = _sigmoid(design @ theta[:d])  # [n] P(click | examined)
        e = exam[pos]  # [n]
        p = np.clip(e * g, eps, 1 - eps)
        value = float(-(c * np.log(p) + (1 - c) * np.log1p(-p)).sum())
        r = -(c / p - (1 - c) / (1 - p))  # dNLL/dp
        grad = np.empty_like(theta)
        grad[:d] = design.T @ (r * e * g * (1 - g))
        by_pos = np.bincount(pos, weights=r * g, minlength=k)  # dNLL/d exam_j
        grad[d:] = by_pos[free] * exam[free] * (1 - exam[free])
        return value, grad

    clipped = np.clip(base[free], 0.0025, 0.9975)
    slopes0 = list(start.slopes) if start.knots == knots else [0.0] * len(knots)
    theta0 = np.concatenate(
        [[start.bias] * n_groups, [start.scale] * n_groups, slopes0, np.log(clipped / (1 - clipped))]
    )
    bounds = (
        [(-20.0, 20.0)] * n_groups
        + [(0.0, 20.0)] * n_groups
        + [(-20.0, 20.0)] * len(knots)
        + [(-6.0, 6.0)] * free.size
    )
    res = minimize(nll, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
    if not np.all(np.isfinite(res.x)):
        logger.warning("click model fit failed (%s); keeping the previous estimate", res.message)
        return start
    exam = unpack(res.x)

    def fitted(curve: np.ndarray) -> ClickModel:
        """The fitted calibration with the examination curve ``curve``."""
        return ClickModel(
            tuple(float(e) for e in curve),
            float(res.x[2 * n_groups - 1]),
            float(res.x[n_groups - 1]),
            int(zz.size),
            knots,
            tuple(float(w) for w in res.x[2 * n_groups : d]),
        )

    if monotone and fit_examination and np.any(np.diff(exam) > 1e-12):
        counts = np.bincount(pos, minlength=k).astype(np.float64)
        refit = fitted(monotone_curve(exam, np.where(present, counts, 1e-6)))
        return fit_click_model(zz, pos, c, start=refit, groups=groups, fit_examination=False, n_knots=n_knots)
    return fitted(exam)


#: the hyper-parameter through which position-aware policies take an examination curve
_EXAMINATION = "examination"


def hand_examination(policy: Policy, curve: Sequence[float]) -> None:
    """Give ``curve`` to ``policy`` and to the policies it holds (e.g. a budgeted policy's explorer)
    wherever they model position bias, i.e. have an ``examination`` hyper-parameter that is set.

    Policies built without a position model (``examination=None``) are left as they are.
    """
    stack: list[Policy] = [policy]
    while stack:
        current = stack.pop()
        params = current.get_params()
        if params.get(_EXAMINATION) is not None:
            setattr(current, _EXAMINATION, [float(e) for e in curve])
        stack.extend(v for v in params.values() if isinstance(v, Policy) and v is not current)


# ---------------------------------------------------------------------- plots
def plot_results(results: Sequence[SimulationResult], path: str | Path, *, title: str = "") -> Path:
    """Save a 2x2 PNG: cumulative clicks, cumulative regret, cold-item impressions, coverage.

    Runs of the same policy (several seeds) are averaged, with a min-max band.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_policy: dict[str, list[SimulationResult]] = {}
    for r in results:
        by_policy.setdefault(r.policy, []).append(r)
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), layout="constrained")
    panels = [
        ("cumulative clicks", "clicks (count)", lambda r: np.cumsum(r.clicks)),
        ("cumulative regret", "expected clicks lost to the oracle (count)", lambda r: np.cumsum(r.regret)),
        (
            "cumulative cold-item impressions",
            "impressions of cold items (count)",
            lambda r: np.cumsum(r.cold_impressions),
        ),
        ("distinct items shown", "items (count)", lambda r: r.distinct_shown),
    ]
    for ax, (label, unit, fn) in zip(axes.ravel(), panels, strict=True):
        for name, runs in by_policy.items():
            curves = np.stack([fn(r) for r in runs])
            steps = np.arange(1, curves.shape[1] + 1)
            (line,) = ax.plot(steps, curves.mean(axis=0), label=name)
            if len(runs) > 1:
                ax.fill_between(
                    steps, curves.min(axis=0), curves.max(axis=0), alpha=0.2, color=line.get_color()
                )
        ax.set_title(label)
        ax.set_xlabel("step (one user, one slate)")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
    # outside the panels, right of the top row: a legend there covers no curve
    axes[0, 1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    if title:
        fig.suptitle(title)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


# ---------------------------------------------------------------------- policies for the simulator
#: short names accepted by ``simulation_policy`` (and ``explorec simulate --policies``)
SIMULATION_POLICIES = (
    "oracle",
    "greedy",
    "eps-greedy",
    "ucb",
    "ts",
    "linucb",
    "linucb-hybrid",
    "lints",
    "softmax",
    "budget",
)


def simulation_policy(name: str, sim: Simulator, *, seed: int = 0, n_mc: int = 1000, **params: Any) -> Policy:
    """A policy set up for ``sim``: the simulator's examination *prior* for position-aware updates
    (never the world's curve; the run replaces it with the estimate refitted from the logged clicks),
    the right feature width for the hybrid LinUCB, and the defaults used in ``bench/simulate.py``.

    ``n_mc`` caps the geometric inverse-propensity draws of the stochastic policies: the logged
    weights of a slot with probability ``p`` are biased by ``-(1 - p) ** n_mc`` (relative), about
    ``-4.5e-5`` at ``p = 0.01`` with the default 1000.

    ``params`` override the defaults (e.g. ``c=0.05`` for ``ucb``).
    """
    from explorec.policies import (
        UCB,
        BernoulliTS,
        BudgetedExploration,
        EpsilonGreedy,
        Softmax,
    )

    exam = [float(e) for e in sim.examination_prior]
    defaults: dict[str, dict[str, Any]] = {
        "greedy": {},
        "oracle": {},
        "eps-greedy": {"epsilon": 0.05},
        "ucb": {"c": 0.02, "prior_weight": 20.0, "examination": exam},
        "ts": {"prior_weight": 200.0, "alpha": 0.5, "beta": 0.5, "examination": exam},
        "linucb": {"alpha": 0.05, "arms": "shared", "examination": exam},
        "linucb-hybrid": {"alpha": 0.05, "shared_dim": sim.feature_dims(), "examination": exam},
        "lints": {"v": 0.05, "examination": exam},
        "softmax": {"temperature": 0.3},
        "budget": {"explore_share": 0.2, "relevance_floor": 0.0, "cold_share": 1.0},
    }
    classes: dict[str, type[Policy]] = {
        "greedy": Greedy,
        "oracle": OraclePolicy,
        "eps-greedy": EpsilonGreedy,
        "ucb": UCB,
        "ts": BernoulliTS,
        "linucb": LinUCB,
        "linucb-hybrid": HybridLinUCB,
        "lints": LinearTS,
        "softmax": Softmax,
        "budget": BudgetedExploration,
    }
    if name not in classes:
        raise ConfigError(f"unknown simulation policy {name!r}; known: {', '.join(SIMULATION_POLICIES)}")
    kwargs = {**defaults[name], **params, "seed": seed, "n_mc": n_mc}
    from explorec.spec import build  # names and types checked: a typo lists the allowed names

    return build(classes[name], kwargs, what=f"simulation policy {name!r}")
