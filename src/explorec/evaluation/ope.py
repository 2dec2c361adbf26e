"""Off-policy evaluation: estimate a policy's value from a log collected by another policy.

The log holds, per row (one shown item), the item (action) ``a_i``, its position ``l_i``, the
reward ``r_i`` and the logging policy's propensity ``pi_b(a_i, l_i | x_i)``. The evaluation policy
is given as its action distribution ``pi_e(a, l | x_i)`` (float[n, n_actions, len_list], or
float[n_actions, len_list] when it ignores the context). The value estimated is the expected reward
per shown slot, ``V(pi_e) = E_x sum_a pi_e(a, l | x) q(x, a, l)`` averaged over the logged slots
(the convention of the Open Bandit Dataset; multiply by ``len_list`` for expected clicks per slate).

Estimators (Dudik, Langford & Li, ICML 2011; Swaminathan & Joachims, NeurIPS 2015; Li et al.,
"Offline evaluation of ranking policies with click models", KDD 2018):

* ``ips``   inverse propensity scoring, ``mean_i w_i r_i`` with
  ``w_i = pi_e(a_i, l_i | x_i) / pi_b(a_i, l_i | x_i)``.
  With positions this is the *independent* (position-wise) IPS: each slot is weighed by the
  marginal probabilities of its item at its position, which is unbiased for the sum of per-position
  rewards when the reward of a slot depends only on its item and position;
* ``snips`` self-normalised IPS, ``sum_i w_i r_i / sum_i w_i``;
* ``dm``    direct method, ``mean_i sum_a pi_e(a, l_i|x_i) q_hat(x_i, a, l_i)``;
* ``dr``    doubly robust, ``dm_i + w_i (r_i - q_hat(x_i, a_i, l_i))`` averaged.

Confidence intervals are percentile bootstrap intervals over rows, or over whole slates when the
log has ``slate_id`` (rows of one slate are resampled together). For ``dm``/``dr`` the reward model is
held fixed across resamples.

``fit_reward_model`` gives ``q_hat`` by per-position logistic regression on the user context and
the item's features with K-fold cross-fitting (the procedure of the dataset's authors, Saito et al.
2021); any other array of the right shape can be passed instead.

Input: a log file (:func:`read_log`), the Open Bandit Dataset (:meth:`BanditLog.from_obd`), or
impression records, the format the simulator and the service write
(:meth:`BanditLog.from_impressions`). A propensity recorded by the geometric estimator
(``propensity_method = "geometric:N"``) is ``1 / G`` with ``E[G] = 1 / p``: IPS multiplies by ``G``,
so its weights are unbiased up to the cap ``N`` (see :mod:`explorec.policies.propensity`).

Logs are validated strictly: a missing or zero propensity, one outside (0, 1], a reward outside the
declared range, an action or position out of range all raise ``DataError`` naming the row (the
1-based file line when the log was read from a file).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from explorec import progress as bars
from explorec.errors import ConfigError, DataError, check_positive_int

if TYPE_CHECKING:
    from explorec.impressions import ImpressionRecord

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ESTIMATORS = ("dm", "ips", "snips", "dr")


# ---------------------------------------------------------------------- the log
@dataclass(frozen=True, eq=False)
class BanditLog:
    """Logged bandit feedback, one row per shown item.

    Attributes
    ----------
    action : int64[n]
        Item shown, in ``0..n_actions-1``.
    reward : float64[n]
        Observed reward, within ``reward_range``.
    pscore : float64[n]
        Logging policy's ``P(action at position | context)``, in (0, 1].
    position : int64[n]
        0-based slot, in ``0..len_list-1`` (all zeros without positions).
    n_actions : int
    len_list : int
        Number of slots per slate.
    context : float64[n, d] or None
        Per-row user context for reward models.
    action_context : float64[n_actions, d_a] or None
        Item features for reward models.
    slate_id : int64[n] or None
        Rows sharing an id were shown together (bootstrap resamples slates).
    reward_range : (float, float)
        Declared reward bounds (inclusive).
    source : str
        Where the log came from (file path), for messages.
    lines : int64[n] or None
        1-based line of each row in ``source``.
    """

    action: IntArray
    reward: FloatArray
    pscore: FloatArray
    position: IntArray
    n_actions: int
    len_list: int
    context: FloatArray | None = None
    action_context: FloatArray | None = None
    slate_id: IntArray | None = None
    reward_range: tuple[float, float] = (0.0, 1.0)
    source: str = ""
    lines: IntArray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        validate_log(self)

    def __len__(self) -> int:
        return int(self.action.shape[0])

    def row_name(self, j: int) -> str:
        """``file:line`` when read from a file, else ``row j`` (0-based)."""
        if self.lines is not None and self.source:
            return f"{self.source}:{int(self.lines[j])}"
        return f"{self.source + ' ' if self.source else ''}row {j}"

    def subset(self, index: npt.ArrayLike) -> BanditLog:
        """Rows at ``index`` (e.g. a bootstrap resample), same metadata."""
        idx = np.asarray(index, dtype=np.int64)
        return BanditLog(
            self.action[idx],
            self.reward[idx],
            self.pscore[idx],
            self.position[idx],
            self.n_actions,
            self.len_list,
            None if self.context is None else self.context[idx],
            self.action_context,
            None if self.slate_id is None else self.slate_id[idx],
            self.reward_range,
            self.source,
            None if self.lines is None else self.lines[idx],
        )

    @classmethod
    def from_obd(cls, obd: Any) -> BanditLog:
        """From an :class:`explorec.data.obd.OBDLog` (user context: one-hot user features)."""
        return cls(
            obd.item.astype(np.int64),
            obd.click.astype(np.float64),
            obd.propensity.astype(np.float64),
            obd.position.astype(np.int64),
            int(obd.n_items),
            int(obd.len_list),
            context=np.asarray(obd.context, dtype=np.float64),
            action_context=np.asarray(obd.item_context, dtype=np.float64),
            source=str(obd.path),
            lines=obd.lines,
        )

    @classmethod
    def from_impressions(
        cls,
        records: Sequence[ImpressionRecord],
        rewards: Sequence[npt.ArrayLike],
        *,
        n_actions: int,
        len_list: int | None = None,
        context: npt.ArrayLike | None = None,
        reward_range: tuple[float, float] = (0.0, 1.0),
        source: str = "impressions",
    ) -> BanditLog:
        """From impression records (the simulator's traces, the service's log) and the reward of each
        shown slot; one row per slot, the rows of a slate share a ``slate_id`` (see
        :func:`explorec.impressions.to_bandit_log`)."""
        from explorec.impressions import to_bandit_log

        return to_bandit_log(
            records,
            rewards,
            n_actions=n_actions,
            len_list=len_list,
            context=context,
            reward_range=reward_range,
            source=source,
        )

    def on_policy_value(self) -> float:
        """Mean reward of the log: the logging policy's own value (per slot)."""
        return float(self.reward.mean())


def validate_log(log: BanditLog) -> None:
    """Raise ``DataError`` naming the first offending row of ``log``; return None when it is sound."""
    n = log.action.shape[0]
    for name in ("reward", "pscore", "position"):
        if getattr(log, name).shape != (n,):
            raise DataError(
                f"log {log.source!r}: {name} has shape {getattr(log, name).shape}, expected ({n},)"
            )
    if log.n_actions < 1 or log.len_list < 1:
        raise DataError(f"log {log.source!r}: n_actions and len_list must be >= 1")
    lo, hi = log.reward_range
    if not lo <= hi:
        raise ConfigError(f"reward_range must be (low, high) with low <= high, got {log.reward_range}")
    checks: list[tuple[npt.NDArray[np.bool_], str]] = [
        (np.isnan(log.pscore), "missing propensity"),
        (log.pscore == 0, "zero propensity (the logging policy could not have shown this item)"),
        (~((log.pscore > 0) & (log.pscore <= 1)) & ~np.isnan(log.pscore), "propensity outside (0, 1]"),
        (~np.isfinite(log.reward), "missing reward"),
        ((log.reward < lo) | (log.reward > hi), f"reward outside the declared range [{lo}, {hi}]"),
        ((log.action < 0) | (log.action >= log.n_actions), f"action outside 0..{log.n_actions - 1}"),
        ((log.position < 0) | (log.position >= log.len_list), f"position outside 0..{log.len_list - 1}"),
    ]
    for bad, what in checks:
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            values = f"propensity={log.pscore[j]}, reward={log.reward[j]}, action={log.action[j]}, "
            values += f"position={log.position[j]}"
            raise DataError(f"{log.row_name(j)}: {what} ({values}); {int(bad.sum())} row(s) affected")
    if log.context is not None and (log.context.ndim != 2 or log.context.shape[0] != n):
        raise DataError(f"log {log.source!r}: context has shape {log.context.shape}, expected ({n}, d)")
    if log.action_context is not None and log.action_context.shape[0] != log.n_actions:
        raise DataError(
            f"log {log.source!r}: action_context has {log.action_context.shape[0]} rows "
            f"for {log.n_actions} actions"
        )
    if log.slate_id is not None and log.slate_id.shape != (n,):
        raise DataError(f"log {log.source!r}: slate_id has shape {log.slate_id.shape}, expected ({n},)")


_ALIASES = {
    "action": ("action", "item", "item_id"),
    "reward": ("reward", "click"),
    "pscore": ("propensity", "pscore", "propensity_score"),
    "position": ("position",),
    "slate_id": ("slate_id", "slate"),
}


def read_log(
    path: str | Path,
    *,
    n_actions: int | None = None,
    len_list: int | None = None,
    reward_range: tuple[float, float] = (0.0, 1.0),
    position_base: int = 0,
) -> BanditLog:
    """Read a log from CSV (header row) or JSON lines (``.jsonl``).

    Columns (first alias found wins): action ``action|item|item_id``, reward ``reward|click``,
    propensity ``propensity|pscore|propensity_score``, optional ``position`` (``position_base``-based)
    and ``slate_id``; columns named ``x_*`` or ``context_*`` form the context. An unnamed leading
    index column (pandas' default) is ignored. ``n_actions``/``len_list`` default to one more than the
    largest value seen. Bad rows raise ``DataError`` naming the 1-based line.
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: log file not found")
    if p.suffix in (".jsonl", ".ndjson"):
        rows = []
        for k, line in enumerate(p.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{p}:{k}: not valid JSON ({exc.msg})") from None
        df = pd.DataFrame(rows)
        lines = np.arange(len(df), dtype=np.int64) + 1
    else:
        df = pd.read_csv(p)
        if len(df.columns) and (df.columns[0] == "" or str(df.columns[0]).startswith("Unnamed")):
            df = df.drop(columns=df.columns[0])
        lines = np.arange(len(df), dtype=np.int64) + 2
    if len(df) == 0:
        raise DataError(f"{p}: the log is empty")

    def column(key: str, required: bool) -> FloatArray | None:
        for alias in _ALIASES[key]:
            if alias in df.columns:
                return np.asarray(pd.to_numeric(df[alias], errors="coerce"), dtype=np.float64)
        if required:
            raise DataError(
                f"{p}: no {key} column (one of {', '.join(_ALIASES[key])}); found {list(df.columns)}"
            )
        return None

    action = column("action", True)
    reward = column("reward", True)
    pscore = column("pscore", True)
    position = column("position", False)
    slate = column("slate_id", False)
    assert action is not None and reward is not None and pscore is not None
    for name, values in (("action", action), ("position", position), ("slate_id", slate)):
        if values is None:
            continue
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise DataError(f"{p}:{lines[j]}: {name} is {values[j]!r}, expected an integer")
    pos = np.zeros(len(df), dtype=np.int64) if position is None else position.astype(np.int64) - position_base
    ctx_cols = [c for c in df.columns if str(c).startswith(("x_", "context_"))]
    context = df[ctx_cols].to_numpy(dtype=np.float64) if ctx_cols else None
    act = action.astype(np.int64)
    return BanditLog(
        act,
        reward,
        pscore,
        pos,
        int(n_actions if n_actions is not None else act.max() + 1),
        int(len_list if len_list is not None else max(int(pos.max()) + 1, 1)),
        context=context,
        slate_id=None if slate is None else slate.astype(np.int64),
        reward_range=reward_range,
        source=str(p),
        lines=lines,
    )


# ---------------------------------------------------------------------- estimators
@dataclass(frozen=True)
class Estimate:
    """One estimator's value with its bootstrap confidence interval.

    Attributes
    ----------
    name : str
    value : float
        Estimated value per slot.
    ci_low, ci_high : float
        Percentile bootstrap interval at level ``1 - alpha``.
    std_error : float
        Bootstrap standard deviation.
    n : int
        Rows used.
    """

    name: str
    value: float
    ci_low: float
    ci_high: float
    std_error: float
    n: int

    def relative_error(self, truth: float) -> float:
        """``|value - truth| / truth``."""
        if truth == 0:
            raise ConfigError("relative error needs a non-zero true value")
        return abs(self.value - truth) / abs(truth)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "std_error": self.std_error,
            "n": self.n,
        }


def _pi_e_rows(log: BanditLog, action_dist: npt.ArrayLike) -> FloatArray:
    """Checked evaluation distribution as float64[n, n_actions, len_list] (a broadcast view when shared)."""
    pi = np.asarray(action_dist, dtype=np.float64)
    shape = (log.n_actions, log.len_list)
    if pi.shape == shape:
        pi = np.broadcast_to(pi, (len(log), *shape))
    elif pi.shape != (len(log), *shape):
        raise DataError(
            f"action_dist has shape {pi.shape}, expected {(len(log), *shape)} or {shape} (shared by all rows)"
        )
    if np.any(pi < 0) or not np.all(np.isfinite(pi)):
        raise DataError("action_dist must hold finite probabilities >= 0")
    return pi


def importance_weights(log: BanditLog, action_dist: npt.ArrayLike) -> FloatArray:
    """``w_i = pi_e(a_i, l_i | x_i) / pi_b(a_i, l_i | x_i)``, float64[n]."""
    pi = _pi_e_rows(log, action_dist)
    rows = np.arange(len(log))
    return np.asarray(pi[rows, log.action, log.position] / log.pscore, dtype=np.float64)


def _reward_hat_rows(log: BanditLog, reward_hat: npt.ArrayLike) -> FloatArray:
    q = np.asarray(reward_hat, dtype=np.float64)
    if q.shape == (len(log), log.n_actions):
        q = np.repeat(q[:, :, None], log.len_list, axis=2)
    if q.shape != (len(log), log.n_actions, log.len_list):
        raise DataError(
            f"reward_hat has shape {q.shape}, expected {(len(log), log.n_actions, log.len_list)} "
            f"or {(len(log), log.n_actions)}"
        )
    return q


def row_terms(
    log: BanditLog, action_dist: npt.ArrayLike, reward_hat: npt.ArrayLike | None = None
) -> dict[str, FloatArray]:
    """Per-row terms whose (weighted) means are the estimates: ``w``, ``wr``, and ``dm``/``dr`` when
    ``reward_hat`` is given."""
    pi = _pi_e_rows(log, action_dist)
    rows = np.arange(len(log))
    w = pi[rows, log.action, log.position] / log.pscore
    out = {"w": w, "wr": w * log.reward}
    if reward_hat is not None:
        q = _reward_hat_rows(log, reward_hat)
        q_pos = q[rows, :, log.position]  # [n, n_actions] at the logged position
        pi_pos = pi[rows, :, log.position]  # [n, n_actions]
        dm = np.einsum("na,na->n", pi_pos, q_pos)
        out["dm"] = dm
        out["dr"] = dm + w * (log.reward - q_pos[rows, log.action])
    return out


def _point(name: str, terms: dict[str, FloatArray], counts: FloatArray | None = None) -> FloatArray:
    """Estimate ``name`` from per-row terms; with resampling counts float[B, n], one value per resample."""
    c = np.ones((1, terms["w"].shape[0])) if counts is None else counts  # [B, n]
    total = c.sum(axis=1)
    if name == "ips":
        return np.asarray(c @ terms["wr"] / total, dtype=np.float64)
    if name == "snips":
        denom = c @ terms["w"]
        return np.asarray(np.where(denom > 0, c @ terms["wr"] / np.where(denom > 0, denom, 1.0), 0.0))
    if name in ("dm", "dr"):
        return np.asarray(c @ terms[name] / total, dtype=np.float64)
    raise ConfigError(f"unknown estimator {name!r}; known: {', '.join(ESTIMATORS)}")


def _bootstrap_counts(
    log: BanditLog, n_bootstrap: int, rng: np.random.Generator
) -> tuple[FloatArray, IntArray | None]:
    """Resampling counts float64[B, n_units] and, for slates, the unit of each row."""
    if log.slate_id is None:
        n = len(log)
        return rng.multinomial(n, np.full(n, 1.0 / n), size=n_bootstrap).astype(np.float64), None
    _, unit = np.unique(log.slate_id, return_inverse=True)
    m = int(unit.max()) + 1
    return rng.multinomial(m, np.full(m, 1.0 / m), size=n_bootstrap).astype(np.float64), unit.astype(np.int64)


def estimate(
    log: BanditLog,
    action_dist: npt.ArrayLike,
    *,
    reward_hat: npt.ArrayLike | None = None,
    estimators: tuple[str, ...] | list[str] = ESTIMATORS,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Estimate]:
    """Estimate the value of the policy ``action_dist`` from ``log`` with each estimator.

    Parameters
    ----------
    log : BanditLog
    action_dist : float[n, n_actions, len_list] or float[n_actions, len_list]
        ``pi_e(a, l | x_i)``; each position's column should sum to 1 over actions.
    reward_hat : float[n, n_actions, len_list] or float[n, n_actions], optional
        ``q_hat(x_i, a, l)`` for ``dm`` and ``dr`` (required for them).
    estimators : names among ``dm, ips, snips, dr``
    n_bootstrap : int
        Bootstrap resamples for the confidence interval (rows, or slates when ``log.slate_id``).
    alpha : float
        1 - confidence level.
    seed : int
        Seeds the bootstrap's own generator.
    progress : bool
        Progress bar over the bootstrap resamples (only on a terminal, :mod:`explorec.progress`).

    Returns
    -------
    dict name -> Estimate
    """
    check_positive_int("n_bootstrap", n_bootstrap)
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie in (0, 1), got {alpha!r}")
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
        raise ConfigError(f"unknown estimator(s) {unknown}; known: {', '.join(ESTIMATORS)}")
    if reward_hat is None and any(e in ("dm", "dr") for e in estimators):
        raise ConfigError("dm and dr need reward_hat (see fit_reward_model)")
    terms = row_terms(log, action_dist, reward_hat)
    rng = np.random.default_rng(seed)
    out: dict[str, Estimate] = {}
    boot = {e: np.empty(n_bootstrap) for e in estimators}
    done = 0
    chunk = max(1, 2_000_000 // max(len(log), 1))
    bar = bars.bar(total=n_bootstrap, desc="bootstrap", unit="resample", show=progress)
    while done < n_bootstrap:
        size = min(chunk, n_bootstrap - done)
        counts, unit = _bootstrap_counts(log, size, rng)
        if unit is not None:
            counts = counts[:, unit]  # every row of a slate carries the slate's count
        for e in estimators:
            boot[e][done : done + size] = _point(e, terms, counts)
        done += size
        bar.update(size)
    bar.close()
    for e in estimators:
        lo, hi = np.quantile(boot[e], [alpha / 2, 1 - alpha / 2])
        value = float(_point(e, terms)[0])
        out[e] = Estimate(e, value, float(lo), float(hi), float(boot[e].std(ddof=1)), len(log))
    return out


def fit_reward_model(
    log: BanditLog,
    *,
    n_folds: int = 3,
    c: float = 100.0,
    max_iter: int = 10_000,
    seed: int = 0,
    progress: bool = False,
) -> FloatArray:
    """``q_hat(x_i, a, l)``: per-position logistic regression with K-fold cross-fitting.

    Features are ``[context_i, action_context[a]]`` (user context and item features, as in Saito et
    al. 2021's default regression model); a model is fitted per position on the rows logged there,
    and each row's predictions come from the models fitted on the other folds (cross-fitting,
    Narita et al. 2020). Rewards must be binary. scikit-learn's ``LogisticRegression`` (L2, ``C=c``)
    does the fitting.

    ``progress`` shows a bar over the (fold, position) fits on a terminal.

    Returns
    -------
    float64[n, n_actions, len_list]
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold

    check_positive_int("n_folds", n_folds)
    if not np.all(np.isin(log.reward, (0.0, 1.0))):
        raise DataError("fit_reward_model: rewards must be 0/1 (a logistic model)")
    n = len(log)
    x = np.zeros((n, 0)) if log.context is None else log.context
    a_ctx = np.eye(log.n_actions) if log.action_context is None else log.action_context
    out = np.zeros((n, log.n_actions, log.len_list))
    folds: list[tuple[IntArray, IntArray]]
    if n_folds == 1:
        folds = [(np.arange(n), np.arange(n))]
    else:
        kf = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
        folds = [(tr.astype(np.int64), te.astype(np.int64)) for tr, te in kf.split(np.arange(n))]
    fits = [(fold, pos) for fold in folds for pos in range(log.len_list)]
    for (train_idx, test_idx), pos in bars.bar(fits, desc="reward model", unit="fit", show=progress):
        rows = train_idx[log.position[train_idx] == pos]
        y = log.reward[rows]
        if rows.size == 0 or y.min() == y.max():
            # nothing to separate at this position: predict the observed rate
            rate = float(y.mean()) if rows.size else float(log.reward.mean())
            out[test_idx, :, pos] = rate
            continue
        model = LogisticRegression(C=c, max_iter=max_iter, random_state=seed)
        model.fit(np.hstack([x[rows], a_ctx[log.action[rows]]]), y)
        xt = x[test_idx]
        for a in range(log.n_actions):
            feats = np.hstack([xt, np.broadcast_to(a_ctx[a], (xt.shape[0], a_ctx.shape[1]))])
            out[test_idx, a, pos] = model.predict_proba(feats)[:, 1]
    return out


def action_dist_from_matrix(
    matrix: npt.ArrayLike, n_actions: int, items: npt.ArrayLike | None = None
) -> FloatArray:
    """float64[n_actions, len_list] from a policy's ``propensity_matrix`` over candidate ``items``.

    Actions that are not candidates get probability 0.
    """
    m = np.asarray(matrix, dtype=np.float64)
    it = np.arange(m.shape[0]) if items is None else np.asarray(items, dtype=np.int64)
    out = np.zeros((n_actions, m.shape[1]))
    out[it] = m
    return out


def estimates_table(results: dict[str, Estimate], truth: float | None = None, *, alpha: float = 0.05) -> str:
    """Plain-text table of estimates (and relative errors when ``truth`` is given).

    ``alpha`` is the one the estimates were computed with (``estimate(..., alpha=...)``); the interval
    column is headed by its level ``100 (1 - alpha)`` %.

    >>> print(estimates_table({"ips": Estimate("ips", 0.5, 0.4, 0.6, 0.05, 10)}, alpha=0.1).splitlines()[0])
    estimator        value                    90% CI
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must lie in (0, 1), got {alpha!r}")
    level = f"{100 * (1 - alpha):.10g}% CI"
    head = f"{'estimator':<10}{'value':>12}{level:>26}"
    if truth is not None:
        head += f"{'rel. error':>12}"
    lines = [head, "-" * len(head)]
    for name, est in results.items():
        row = f"{name:<10}{est.value:>12.6f}{f'[{est.ci_low:.6f}, {est.ci_high:.6f}]':>26}"
        if truth is not None:
            row += f"{est.relative_error(truth):>12.3f}"
        lines.append(row)
    return "\n".join(lines)
