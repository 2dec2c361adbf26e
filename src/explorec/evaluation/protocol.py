"""The offline evaluation protocol: full ranking over the whole catalogue, seen items masked.

``evaluate`` scores every item for every test user (in batches, so memory stays at
``batch_size x n_items``), masks the items of ``history`` (the user's known interactions), takes the
top ``max(k)`` and computes the metrics of :mod:`explorec.evaluation.metrics`. ``evaluate_topk`` does
the same for ranked lists computed elsewhere (re-rankers, policies).

Decisions (each documented where it applies):

* **Full ranking by default.** Sampled-negative metrics (each user's test items ranked against
  ``N`` sampled items the user never interacted with) exist only when ``sampled_negatives=N`` is
  given; their keys are then prefixed ``"sampled{N}:"`` and ``EvaluationResult.sampled`` is True, so
  they cannot be mistaken for full-ranking numbers (Krichene & Rendle, 2020, "On Sampled Metrics for
  Item Recommendation", show they can disagree).
* **Masking.** Items in ``history`` are set to ``-inf`` before ranking, *except* the user's own test
  items: a test item also present in the history is a repeat consumption and stays rankable (it is
  counted in ``settings["test_pairs_in_history"]``).
* **Ties** are broken by item index (lower first), so results do not depend on the batch size or on
  the partition algorithm.
* An item scored ``-inf`` (masked, or by the model) is never recommended: when fewer than ``k``
  items remain the list is padded with ``-1``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from tqdm.auto import tqdm

from explorec import progress as bars
from explorec.data.interactions import Interactions
from explorec.errors import ConfigError, DataError, check_positive_int
from explorec.evaluation import metrics as M
from explorec.ranking import apply_mask, mask_matrix, rank_top_k

if TYPE_CHECKING:
    from explorec.models.base import Recommender

logger = logging.getLogger(__name__)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: per-user accuracy metrics, in table order
ACCURACY = ("recall", "precision", "hit", "ndcg", "mrr", "map")
#: beyond-accuracy metrics, in table order (coverage and gini are catalogue-level)
BEYOND = ("coverage", "diversity", "novelty", "arp", "gini")


@dataclass(eq=False)
class EvaluationResult:
    """What ``evaluate`` / ``evaluate_topk`` return.

    Attributes
    ----------
    metrics : dict[str, float]
        Mean over users (catalogue-level for coverage and gini), keys like ``"ndcg@10"``; prefixed
        ``"sampled{N}:"`` under sampled evaluation.
    per_user : dict[str, float64[n_users_eval]]
        Per-user values of every per-user metric, aligned with ``users``.
    users : int64[n_users_eval]
        Evaluated users (internal indices).
    top_items : int64[n_users_eval, max_k]
        Each user's ranked list (``-1`` = empty slot).
    seconds : float
        Wall time of the evaluation.
    settings : dict
        ``k``, ``n_items``, ``sampled``, ``sampled_negatives``, ``protocol`` and counts.
    sampled : bool
        True for sampled-negative metrics.
    """

    metrics: dict[str, float]
    per_user: dict[str, F64]
    users: I64
    top_items: I64
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)
    sampled: bool = False

    def to_dict(self, *, per_user: bool = False) -> dict[str, Any]:
        """JSON-safe summary (plain floats, ints, lists); per-user values only when asked."""
        out: dict[str, Any] = {
            "metrics": {key: float(value) for key, value in self.metrics.items()},
            "n_users": int(self.users.size),
            "seconds": float(self.seconds),
            "sampled": bool(self.sampled),
            "settings": _json_safe(self.settings),
        }
        if per_user:
            out["users"] = self.users.tolist()
            out["per_user"] = {key: values.tolist() for key, values in self.per_user.items()}
        return out

    def table(self) -> str:
        """Aligned text table: one row per metric, one column per cut-off ``k``."""
        ks = list(self.settings.get("k", []))
        prefix = _prefix(self.settings.get("sampled_negatives"))
        if self.sampled:
            head = (
                f"SAMPLED METRICS ({self.settings.get('sampled_negatives')} sampled negatives per user; "
                "not comparable with full-ranking numbers)"
            )
        elif self.settings.get("protocol") == "precomputed lists":
            head = f"PRECOMPUTED LISTS over {self.settings.get('n_items')} items"
        else:
            head = f"FULL RANKING over {self.settings.get('n_items')} items (history masked)"
        head += f" - {self.users.size} users, {self.seconds:.2f} s"
        names = [m for m in (*ACCURACY, *BEYOND) if any(f"{prefix}{m}@{k}" in self.metrics for k in ks)]
        width = max([len(prefix + n) for n in names] + [6])
        lines = [head, f"{'metric':<{width}}" + "".join(f"{'@' + str(k):>10}" for k in ks)]
        for name in names:
            cells = []
            for k in ks:
                value = self.metrics.get(f"{prefix}{name}@{k}")
                cells.append(f"{value:>10.4f}" if value is not None else f"{'-':>10}")
            lines.append(f"{prefix + name:<{width}}" + "".join(cells))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"EvaluationResult(n_users={self.users.size}, sampled={self.sampled}, "
            f"metrics={{{', '.join(f'{k!r}: {v:.4f}' for k, v in self.metrics.items())}}})"
        )


def _prefix(sampled_negatives: int | None) -> str:
    return "" if sampled_negatives is None else f"sampled{sampled_negatives}:"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---------------------------------------------------------------------------------- validation
def _check_k(k: int | Sequence[int]) -> tuple[int, ...]:
    values = (k,) if isinstance(k, int | np.integer) else tuple(k)
    if not values:
        raise ConfigError("k must be a positive integer or a non-empty sequence of them, got ()")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise ConfigError(f"k must contain positive integers only, got k={k!r}")
    return tuple(sorted({int(v) for v in values}))


def _check_data(test: Interactions, history: Interactions) -> None:
    if len(test) == 0:
        raise DataError("evaluate: the test interactions are empty; nothing to evaluate")
    if history.n_items != test.n_items or history.n_users != test.n_users:
        raise DataError(
            f"evaluate: history has {history.n_users} users x {history.n_items} items, "
            f"test has {test.n_users} users x {test.n_items} items; they must share vocabularies"
        )


def _eval_users(test: Interactions, users: npt.ArrayLike | None) -> I64:
    test_users = np.unique(test.user)
    if users is None:
        return test_users.astype(np.int64)
    u = np.asarray(users, dtype=np.int64).reshape(-1)
    if u.size == 0:
        raise ConfigError("users: an empty selection; pass None to evaluate every test user")
    if u.min() < 0 or u.max() >= test.n_users:
        bad = u[(u < 0) | (u >= test.n_users)][0]
        raise ConfigError(f"users: index {bad} outside [0, {test.n_users})")
    if np.unique(u).size != u.size:
        raise ConfigError("users: contains duplicates")
    missing = u[~np.isin(u, test_users)]
    if missing.size:
        raise DataError(
            f"users: {missing.size} of the {u.size} requested users have no test interaction "
            f"(first: user index {missing[0]}, id {test.user_ids[missing[0]]!r})"
        )
    return u


def _pair_keys(data: Interactions) -> I64:
    return np.unique(data.user * np.int64(data.n_items) + data.item)


def maskable_history(history: Interactions, test: Interactions) -> Interactions:
    """The part of ``history`` the protocol masks: every pair except those that are also test pairs.

    A test item the user has met before (a repeat purchase, a re-watched movie) stays rankable, so a
    model can be credited for recommending it. Pass the result as ``seen`` to
    :func:`explorec.pipeline.recommend` to rank exactly as :func:`evaluate` does.
    """
    if history.n_items != test.n_items or history.n_users != test.n_users:
        raise DataError(
            f"history has {history.n_users} users x {history.n_items} items, test has "
            f"{test.n_users} users x {test.n_items} items; they must share vocabularies"
        )
    keys = history.user * np.int64(history.n_items) + history.item
    return history.select(~np.isin(keys, _pair_keys(test)))


def _progress(total: int, progress: bool, desc: str) -> tqdm[Any]:
    return bars.bar(total=total, desc=desc, unit="users", show=progress)


# ---------------------------------------------------------------------------------- ranking
def _full_ranking(
    model: Recommender,
    users: I64,
    history: Interactions,
    test: Interactions,
    max_k: int,
    batch_size: int,
    progress: bool,
) -> tuple[I64, dict[str, int]]:
    n_items = test.n_items
    mask = maskable_history(history, test).to_csr()
    n_masked = int(mask.nnz)
    repeats = _pair_keys(history).size - n_masked
    top = np.empty((users.size, max_k), dtype=np.int64)
    with _progress(users.size, progress, "evaluate") as bar:
        for start in range(0, users.size, batch_size):
            batch = users[start : start + batch_size]
            scores = np.asarray(model.score(batch, history=history), dtype=np.float32) + np.float32(0.0)
            if scores.shape != (batch.size, n_items):
                raise DataError(
                    f"{type(model).__name__}.score returned shape {scores.shape}, "
                    f"expected ({batch.size}, {n_items})"
                )
            scores = apply_mask(scores, mask_matrix(batch, n_items, seen=mask))
            top[start : start + batch.size] = rank_top_k(scores, max_k)
            bar.update(batch.size)
    return top, {"masked_history_pairs": n_masked, "test_pairs_in_history": int(repeats)}


def _sampled_ranking(
    model: Recommender,
    users: I64,
    history: Interactions,
    test: Interactions,
    max_k: int,
    batch_size: int,
    n_negatives: int,
    seed: int,
    progress: bool,
) -> I64:
    n_items = test.n_items
    test_keys = _pair_keys(test)
    seen_keys = np.union1d(_pair_keys(history), test_keys)
    seen_users = seen_keys // n_items
    test_users = test_keys // n_items
    rng = np.random.default_rng(seed)
    top = np.empty((users.size, max_k), dtype=np.int64)
    with _progress(users.size, progress, "evaluate (sampled)") as bar:
        for start in range(0, users.size, batch_size):
            batch = users[start : start + batch_size]
            lists = []
            for user in batch:  # users in order, so the draws do not depend on batch_size
                lo, hi = np.searchsorted(seen_users, [user, user + 1])
                seen = seen_keys[lo:hi] % n_items
                n_free = n_items - seen.size
                if n_free < n_negatives:
                    raise DataError(
                        f"sampled_negatives={n_negatives}: user {test.user_ids[user]!r} has interacted "
                        f"with {seen.size} of {n_items} items, leaving only {n_free} to sample from"
                    )
                draw = rng.choice(n_items, size=min(n_items, n_negatives + seen.size), replace=False)
                negatives = draw[~np.isin(draw, seen)][:n_negatives]
                lo, hi = np.searchsorted(test_users, [user, user + 1])
                lists.append(np.concatenate([test_keys[lo:hi] % n_items, negatives]))
            width = max(len(c) for c in lists)
            cand = np.full((batch.size, width), -1, dtype=np.int64)
            for row, c in enumerate(lists):
                cand[row, : c.size] = c
            scores = np.asarray(model.score(batch, history=history), dtype=np.float32)
            if scores.shape != (batch.size, n_items):
                raise DataError(
                    f"{type(model).__name__}.score returned shape {scores.shape}, "
                    f"expected ({batch.size}, {n_items})"
                )
            picked = np.take_along_axis(scores, np.maximum(cand, 0), axis=1)
            picked[cand < 0] = -np.inf
            top[start : start + batch.size] = rank_top_k(picked, max_k, items=cand)
            bar.update(batch.size)
    return top


# ---------------------------------------------------------------------------------- metrics
def _compute(
    top: I64,
    users: I64,
    test: Interactions,
    history: Interactions,
    ks: tuple[int, ...],
    item_vectors: npt.ArrayLike | None,
    prefix: str,
    beyond: bool,
) -> tuple[dict[str, float], dict[str, F64]]:
    n_items = test.n_items
    hits, n_rel = M.hit_matrix(top, users, test.user, test.item, n_items=n_items)
    popularity, n_hist_users = M.item_popularity(history.user, history.item, n_items)
    vectors = None if item_vectors is None else np.asarray(item_vectors)
    metrics: dict[str, float] = {}
    per_user: dict[str, F64] = {}
    for k in ks:
        values: dict[str, F64] = {
            "recall": M.recall(hits, n_rel, k),
            "precision": M.precision(hits, k),
            "hit": M.hit_rate(hits, k),
            "ndcg": M.ndcg(hits, n_rel, k),
            "mrr": M.mrr(hits, k),
            "map": M.average_precision(hits, n_rel, k),
        }
        catalogue: dict[str, float] = {}
        if beyond:
            catalogue["coverage"] = M.coverage(top, n_items, k)
            if vectors is not None:
                values["diversity"] = (
                    M.intra_list_diversity(top, k, item_vectors=vectors)
                    if vectors.ndim == 2
                    else M.intra_list_diversity(top, k, item_categories=vectors)
                )
            values["novelty"] = M.novelty(top, popularity, n_hist_users, k)
            values["arp"] = M.average_popularity(top, popularity, k)
            catalogue["gini"] = M.gini_exposure(top, n_items, k)
        for name in (*ACCURACY, *BEYOND):
            key = f"{prefix}{name}@{k}"
            if name in values:
                per_user[key] = values[name]
                metrics[key] = float(values[name].mean())
            elif name in catalogue:
                metrics[key] = catalogue[name]
    return metrics, per_user


def _check_vectors(item_vectors: npt.ArrayLike | None, n_items: int) -> None:
    if item_vectors is None:
        return
    arr = np.asarray(item_vectors)
    if arr.ndim not in (1, 2) or arr.shape[0] != n_items:
        raise DataError(
            f"item_vectors must be [n_items, dim] vectors or [n_items] categories with n_items={n_items}, "
            f"got shape {arr.shape}"
        )


# ---------------------------------------------------------------------------------- public API
def evaluate(
    model: Recommender,
    test: Interactions,
    *,
    history: Interactions,
    k: int | Sequence[int] = (10,),
    item_vectors: npt.ArrayLike | None = None,
    batch_size: int = 512,
    users: npt.ArrayLike | None = None,
    sampled_negatives: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> EvaluationResult:
    """Evaluate a fitted model on held-out interactions by full ranking.

    Parameters
    ----------
    model : Recommender
        Fitted; scores come from ``model.score(batch_users, history=history)``.
    test : Interactions
        Held-out (user, item) pairs; every pair is a relevant item.
    history : Interactions
        What the model may know about the users at test time (``Split.test_history``: train + valid).
        Its items are masked; its per-item user counts give novelty and ARP popularity. Required, so
        that the caller states which data count as seen.
    k : int or sequence of int
        Cut-offs; the top ``max(k)`` is computed once.
    item_vectors : float[n_items, dim] or [n_items], optional
        Item vectors (ILD with ``1 - cosine``) or one categorical attribute (share of pairs from
        different categories); adds ``diversity@k``.
    batch_size : int
        Users scored at once; memory is about ``batch_size * n_items * 17`` bytes; results do not
        depend on it.
    users : int[n], optional
        Users to evaluate (each must have a test interaction); default every user in ``test``.
    sampled_negatives : int, optional
        Rank each user's test items against this many sampled never-interacted items instead of the
        whole catalogue. Keys get the prefix ``"sampled{N}:"``; beyond-accuracy metrics are not
        computed (they mean nothing over sampled candidates).
    seed : int
        Seed of the negative sampler.
    progress : bool
        Show a progress bar (only on a terminal).

    Returns
    -------
    EvaluationResult
    """
    started = time.perf_counter()
    ks = _check_k(k)
    batch_size = check_positive_int("batch_size", batch_size)
    _check_data(test, history)
    n_items = test.n_items
    n_model = getattr(model, "n_items_", None)
    if n_model is not None and n_model != n_items:
        raise DataError(f"evaluate: the model was fitted on {n_model} items, the test data have {n_items}")
    _check_vectors(item_vectors, n_items)
    eval_users = _eval_users(test, users)
    max_k = max(ks)
    settings: dict[str, Any] = {
        "k": list(ks),
        "n_items": n_items,
        "sampled": sampled_negatives is not None,
        "sampled_negatives": None,
        "batch_size": batch_size,
        "model": type(model).__name__,
    }
    if sampled_negatives is None:
        if max_k > n_items:
            raise ConfigError(f"k={max_k} exceeds the number of items ({n_items})")
        top, counts = _full_ranking(model, eval_users, history, test, max_k, batch_size, progress)
        settings.update(protocol="full ranking", **counts)
        prefix, beyond = "", True
    else:
        n_neg = check_positive_int("sampled_negatives", sampled_negatives)
        top = _sampled_ranking(model, eval_users, history, test, max_k, batch_size, n_neg, seed, progress)
        settings.update(protocol="sampled negatives", sampled_negatives=n_neg, seed=seed)
        prefix, beyond = _prefix(n_neg), False
    metrics, per_user = _compute(top, eval_users, test, history, ks, item_vectors, prefix, beyond)
    seconds = time.perf_counter() - started
    logger.info(
        "evaluated %s on %d users (%s) in %.2f s: %s",
        type(model).__name__,
        eval_users.size,
        settings["protocol"],
        seconds,
        ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()),
    )
    sampled = bool(settings["sampled"])
    return EvaluationResult(metrics, per_user, eval_users, top, seconds, settings, sampled=sampled)


def evaluate_topk(
    top_items: npt.ArrayLike,
    users: npt.ArrayLike,
    test: Interactions,
    *,
    history: Interactions,
    k: int | Sequence[int] = (10,),
    item_vectors: npt.ArrayLike | None = None,
    n_items: int,
) -> EvaluationResult:
    """The metrics of ``evaluate`` for ranked lists computed elsewhere (re-rankers, policies).

    Parameters
    ----------
    top_items : int[n, K]
        Ranked lists, best first (``-1`` = empty slot); ``K >= max(k)``; no item twice in a row.
    users : int[n]
        The user of each list; each must have a test interaction.
    test, history, k, item_vectors
        As in :func:`evaluate` (``history`` gives novelty/ARP popularity; nothing is masked here).
    n_items : int
        Catalogue size; must equal ``test.n_items``.
    """
    started = time.perf_counter()
    ks = _check_k(k)
    _check_data(test, history)
    if n_items != test.n_items:
        raise DataError(f"evaluate_topk: n_items={n_items} but the test data have {test.n_items} items")
    _check_vectors(item_vectors, n_items)
    top = np.asarray(top_items)
    if top.ndim != 2 or not np.issubdtype(top.dtype, np.integer):
        raise DataError(f"top_items must be a 2-d integer array, got {top.dtype} with shape {top.shape}")
    top = top.astype(np.int64)
    u = np.asarray(users, dtype=np.int64).reshape(-1)
    if top.shape[0] != u.size:
        raise DataError(f"top_items has {top.shape[0]} rows but users has {u.size} entries")
    if max(ks) > top.shape[1]:
        raise ConfigError(f"k={max(ks)} exceeds the length of the ranked lists ({top.shape[1]})")
    if top.size and (top.min() < -1 or top.max() >= n_items):
        raise DataError(f"top_items: item indices must lie in [0, {n_items}) (or -1 for an empty slot)")
    srt = np.sort(top, axis=1)
    dup = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
    if dup.any():
        row = int(np.flatnonzero(dup.any(axis=1))[0])
        raise DataError(f"top_items: row {row} (user {u[row]}) lists an item more than once")
    eval_users = _eval_users(test, u)
    metrics, per_user = _compute(top, eval_users, test, history, ks, item_vectors, "", True)
    settings: dict[str, Any] = {
        "k": list(ks),
        "n_items": n_items,
        "sampled": False,
        "sampled_negatives": None,
        "protocol": "precomputed lists",
    }
    return EvaluationResult(metrics, per_user, eval_users, top, time.perf_counter() - started, settings)
