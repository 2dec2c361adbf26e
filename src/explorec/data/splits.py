"""Train / validation / test splits over one vocabulary, each with a report of what went where.

Every function returns a ``Split`` whose three parts share the input's vocabularies, keep the input's
row order within each part, and are deterministic (under ``seed`` where there is randomness). Each
split's ``report`` dict counts what a reader should know (users kept in train only, cold rows,
cutoffs); ``describe(split)`` merges it with ``Split.summary()``.

==================  =========================================================================
method              protocol
==================  =========================================================================
leave-one-out       per user by time: last -> test, second last -> valid, rest -> train
temporal            global time cutoffs: the latest rows -> test, the ones before -> valid
random              per-user random ratio split (RecBole's "RS" grouped by user)
cold-item           a random share of items held out of training entirely
catalog-arrival     the items that entered the catalogue last held out (``Catalog.arrival``)
few-shot            test users keep only their first ``k`` rows in train; the next one is test
predefined          the split a dataset ships (``Dataset.split``)
==================  =========================================================================

A part that would be empty (test, or train) raises ``DataError`` saying why; parameters outside
their range raise ``ConfigError`` naming the parameter and the value.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.data.interactions import Dataset, Interactions, Split
from explorec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

TRAIN, VALID, TEST, UNUSED = 0, 1, 2, 3


# ---------------------------------------------------------------------------- per-user by time
def leave_one_out(data: Interactions, *, min_history: int = 3) -> Split:
    """Each user's last interaction -> test, second last -> valid, the rest -> train.

    Order is by timestamp; ties keep their row order (the later row counts as later). Users with
    fewer than ``min_history`` interactions stay entirely in train (``report["short_users"]``).

    Parameters
    ----------
    min_history : int
        At least 3, so that every evaluated user has a training row.
    """
    min_history = _int_at_least("min_history", min_history, 3)
    order, position, length = _positions_by_time(data)
    long = length >= min_history
    part = np.full(len(data), TRAIN, dtype=np.int8)
    part[order[long & (position == length - 1)]] = TEST
    part[order[long & (position == length - 2)]] = VALID
    counts = data.user_counts()
    short = (counts > 0) & (counts < min_history)
    report = {
        "min_history": min_history,
        "short_users": int(short.sum()),
        "short_user_rows": int(counts[short].sum()),
    }
    if not (part == TEST).any():
        longest = int(counts.max()) if len(data) else 0
        raise DataError(
            f"leave-one-out: test would be empty: no user has at least min_history={min_history} "
            f"interactions (longest history: {longest}); lower min_history or choose another split"
        )
    return _build(data, part, "leave-one-out", report)


def few_shot_split(
    data: Interactions,
    *,
    k: int,
    test_user_fraction: float = 0.2,
    min_history: int | None = None,
    seed: int = 0,
) -> Split:
    """Few-shot users: a random share of users keep only their first ``k`` interactions for training.

    For each chosen user, the first ``k`` interactions (by time) are in train and the next one is the
    test row; their later interactions are used nowhere (counted in ``report["unused_rows"]``), so
    nothing after the test row leaks. Every other user is entirely in train. ``valid`` is empty:
    no few-shot user has a second held-out row to spare.

    Parameters
    ----------
    k : int
        Interactions each test user keeps in train (>= 1).
    test_user_fraction : float
        Share of the eligible users that become test users, in (0, 1].
    min_history : int, optional
        Users with fewer interactions are never test users; default ``k + 2``; at least ``k + 1``.
    seed : int
        Seeds which users are chosen.
    """
    k = _int_at_least("k", k, 1)
    fraction = _fraction("test_user_fraction", test_user_fraction, low_open=True, high_open=False)
    min_history = k + 2 if min_history is None else _int_at_least("min_history", min_history, k + 1)
    rng = np.random.default_rng(_seed(seed))
    counts = data.user_counts()
    eligible = np.flatnonzero(counts >= min_history)
    n_test = round(fraction * eligible.size)
    if n_test == 0:
        raise DataError(
            f"few-shot: test would be empty: {eligible.size} users have at least min_history={min_history} "
            f"interactions, and test_user_fraction={fraction:g} of them rounds to 0 users"
        )
    chosen = np.zeros(data.n_users, dtype=bool)
    chosen[np.sort(rng.choice(eligible, size=n_test, replace=False))] = True
    order, position, _ = _positions_by_time(data)
    in_test_user = chosen[data.user[order]]
    part = np.full(len(data), TRAIN, dtype=np.int8)
    part[order[in_test_user & (position == k)]] = TEST
    part[order[in_test_user & (position > k)]] = UNUSED
    report = {
        "k": k,
        "min_history": min_history,
        "eligible_users": int(eligible.size),
        "few_shot_users": int(n_test),
        "unused_rows": int((part == UNUSED).sum()),
    }
    return _build(data, part, f"few-shot(k={k})", report)


# ---------------------------------------------------------------------------- global time
def temporal_split(data: Interactions, *, valid_fraction: float = 0.1, test_fraction: float = 0.1) -> Split:
    """Global time cutoffs: the latest ``test_fraction`` of rows -> test, the ones before -> valid.

    The cutoffs are timestamps (quantiles of the row times): ``test_start`` is the time of the row at
    quantile ``1 - test_fraction`` and every row at or after it is test; ``valid_start`` likewise.
    So ``train < valid_start <= valid < test_start <= test`` holds strictly, and ties at a cutoff go
    to the later part (which can make it a little larger than asked). Valid/test rows whose user or
    item never appears in train are kept (genuine cold cases) and counted in the report.

    Raises
    ------
    DataError
        When the data has no clock (``has_timestamps`` False), or a part would be empty.
    """
    if not data.has_timestamps:
        raise DataError("temporal split needs timestamps; this data has only an event order")
    valid_fraction = _fraction("valid_fraction", valid_fraction, low_open=False, high_open=True)
    test_fraction = _fraction("test_fraction", test_fraction, low_open=True, high_open=True)
    if valid_fraction + test_fraction >= 1.0:
        raise ConfigError(
            f"valid_fraction + test_fraction must be < 1, got {valid_fraction:g} + {test_fraction:g}"
        )
    n = len(data)
    times = np.sort(data.timestamp)
    n_test = round(test_fraction * n)
    n_valid = round(valid_fraction * n)
    if n_test == 0:
        raise DataError(f"temporal: test would be empty: test_fraction={test_fraction:g} of {n} rows")
    test_start = times[n - n_test]
    valid_start = times[n - n_test - n_valid] if n_valid else test_start
    part = np.full(n, TRAIN, dtype=np.int8)
    part[data.timestamp >= valid_start] = VALID
    part[data.timestamp >= test_start] = TEST
    if not (part == TRAIN).any():
        raise DataError(
            f"temporal: train would be empty: every row is at or after the cutoff {valid_start!r} "
            "(too many equal timestamps)"
        )
    report = {
        "valid_fraction": valid_fraction,
        "test_fraction": test_fraction,
        "valid_start": float(valid_start),
        "test_start": float(test_start),
        **_cold_counts(data, part),
    }
    return _build(data, part, "temporal", report)


# ---------------------------------------------------------------------------- random
def random_split(
    data: Interactions, *, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> Split:
    """Per-user random split by ratio (RecBole's "RS" ordering grouped by user).

    For a user with ``n`` rows, valid and test get ``floor(ratio * n)`` rows; then, as in RecBole,
    a part whose share ``ratio * n`` lies in (0, 1) gets one row while train still has more than one
    (test first, then valid). So a user with 3 rows gets 1/1/1 under (0.8, 0.1, 0.1), with 2 rows
    1 train / 1 test, and every user with at least 2 rows keeps at least one train row; users with
    one row stay in train (``report["train_only_users"]``).

    Parameters
    ----------
    ratios : (train, valid, test)
        Non-negative, summing to 1; train and test > 0.
    seed : int
        Seeds the per-user shuffles.
    """
    r_train, r_valid, r_test = _ratios(ratios)
    rng = np.random.default_rng(_seed(seed))
    counts = data.user_counts()
    n_test = np.floor(r_test * counts + 1e-9).astype(np.int64)
    n_valid = np.floor(r_valid * counts + 1e-9).astype(np.int64)
    n_train = counts - n_test - n_valid
    for share, n_part in ((r_test * counts, n_test), (r_valid * counts, n_valid)):
        bump = (share > 0) & (share < 1) & (n_train > 1)
        n_part += bump
        n_train -= bump
    key = rng.random(len(data))
    order = np.lexsort((key, data.user))
    position = _position_in_group(data.user[order], data.n_users)
    users = data.user[order]
    part = np.full(len(data), TRAIN, dtype=np.int8)
    part[order[position >= n_train[users]]] = VALID
    part[order[position >= (n_train + n_valid)[users]]] = TEST
    if not (part == TEST).any():
        raise DataError(
            f"random: test would be empty: with ratios {ratios} no user has enough rows "
            f"(longest history: {int(counts.max()) if len(data) else 0})"
        )
    active = counts > 0
    report = {
        "ratios": [r_train, r_valid, r_test],
        "seed": int(seed),
        "train_only_users": int((active & (n_train == counts)).sum()),
    }
    return _build(data, part, "random", report)


# ---------------------------------------------------------------------------- cold items
def cold_item_split(
    data: Interactions, *, item_fraction: float = 0.2, valid_share: float = 0.5, seed: int = 0
) -> Split:
    """Hold a random share of the items out of training entirely.

    ``round(item_fraction * n)`` of the ``n`` items that have interactions are drawn; a ``valid_share``
    of them (rounded, at most all but one) become the validation items, the others the test items.
    All interactions of a held-out item go to its part, so validation is cold too;
    ``Split.cold_items`` lists the test items. Test users whose every interaction is held out have
    no training row (``report["test_users_without_train"]``).

    Parameters
    ----------
    item_fraction : float
        Share of the interacted items held out, in (0, 1).
    valid_share : float
        Share of the held-out items that go to validation instead of test, in [0, 1).
    seed : int
        Seeds which items are held out.
    """
    item_fraction = _fraction("item_fraction", item_fraction, low_open=True, high_open=True)
    valid_share = _fraction("valid_share", valid_share, low_open=False, high_open=True)
    rng = np.random.default_rng(_seed(seed))
    active = np.flatnonzero(data.item_counts() > 0)
    n_held = round(item_fraction * active.size)
    if n_held == 0:
        raise DataError(
            f"cold-item: test would be empty: item_fraction={item_fraction:g} of {active.size} "
            "interacted items rounds to 0 items"
        )
    held = rng.permutation(active)[:n_held]
    n_valid = min(round(valid_share * n_held), n_held - 1)
    report = {"item_fraction": item_fraction, "valid_share": valid_share, "seed": int(seed)}
    return _hold_out_items(data, np.sort(held[:n_valid]), np.sort(held[n_valid:]), "cold-item", report)


def catalog_arrival_split(
    dataset: Dataset, *, cutoff_quantile: float = 0.9, valid_share: float = 0.5
) -> Split:
    """Hold out the items that entered the catalogue last (``Catalog.arrival``).

    The cutoff is the ``cutoff_quantile`` quantile of the catalogue's arrival times; items arriving
    after it are new. Of the new items that have interactions, the earliest-arriving
    ``valid_share`` (rounded, at most all but one) go to validation, the rest to test, and all their
    interactions go with them; every other row is train. Like ``cold_item_split`` this is an item
    protocol, not a temporal one: old items' interactions after the cutoff stay in train.

    Raises
    ------
    DataError
        When the catalogue has no arrival times, or no new item has interactions.
    """
    catalog = dataset.catalog
    if catalog.arrival is None:
        raise DataError(
            f"catalog-arrival: dataset {dataset.name!r} has no Catalog.arrival times; "
            "use cold-item for a random hold-out"
        )
    q = _fraction("cutoff_quantile", cutoff_quantile, low_open=True, high_open=True)
    valid_share = _fraction("valid_share", valid_share, low_open=False, high_open=True)
    data = dataset.interactions
    arrival = catalog.arrival
    known = np.isfinite(arrival)
    if not known.any():
        raise DataError(f"catalog-arrival: dataset {dataset.name!r} has no finite arrival time")
    cutoff = float(np.quantile(arrival[known], q))
    new = np.flatnonzero(known & (arrival > cutoff) & (data.item_counts() > 0))
    if new.size == 0:
        raise DataError(
            f"catalog-arrival: test would be empty: no item with interactions arrived after the "
            f"cutoff {cutoff!r} (cutoff_quantile={q:g})"
        )
    new = new[np.lexsort((new, arrival[new]))]
    n_valid = min(round(valid_share * new.size), new.size - 1)
    report = {"cutoff_quantile": q, "arrival_cutoff": cutoff, "valid_share": valid_share}
    return _hold_out_items(data, np.sort(new[:n_valid]), np.sort(new[n_valid:]), "catalog-arrival", report)


def _hold_out_items(
    data: Interactions,
    valid_items: npt.NDArray[np.int64],
    test_items: npt.NDArray[np.int64],
    name: str,
    report: dict[str, Any],
) -> Split:
    part = np.full(len(data), TRAIN, dtype=np.int8)
    part[np.isin(data.item, valid_items)] = VALID
    part[np.isin(data.item, test_items)] = TEST
    if not (part == TRAIN).any():
        raise DataError(f"{name}: train would be empty: every interacted item was held out")
    train_users = np.bincount(data.user[part == TRAIN], minlength=data.n_users) > 0
    test_users = np.unique(data.user[part == TEST])
    report = {
        **report,
        "valid_cold_items": int(valid_items.size),
        "test_cold_items": int(test_items.size),
        "test_users_without_train": int((~train_users[test_users]).sum()),
    }
    return _build(data, part, name, report, cold_items=test_items.astype(np.int64))


# ---------------------------------------------------------------------------- dispatch
SPLITTERS: dict[str, Callable[..., Split]] = {
    "leave-one-out": leave_one_out,
    "temporal": temporal_split,
    "random": random_split,
    "cold-item": cold_item_split,
    "catalog-arrival": catalog_arrival_split,
    "few-shot": few_shot_split,
}
METHODS = ("auto", "predefined", *SPLITTERS)


def auto_method(dataset: Dataset | Interactions) -> tuple[str, str]:
    """The method ``"auto"`` stands for, and why: the shipped split, else leave-one-out by time, else random.

    Leave-one-out holds out each user's *last* interaction, which only means something when the
    rows carry a clock; without one (Last.fm HetRec's play counts) "last" is the order of the ids
    in the file, so a per-user random split is chosen instead.

    >>> from explorec.data.interactions import Interactions
    >>> auto_method(Interactions.from_ids(["a", "a"], ["x", "y"]))[0]
    'random'
    """
    if isinstance(dataset, Dataset) and dataset.split is not None:
        return "predefined", f"dataset {dataset.name!r} ships its own split"
    data = dataset.interactions if isinstance(dataset, Dataset) else dataset
    if data.has_timestamps:
        return "leave-one-out", "the interactions have timestamps: each user's last one is held out"
    return "random", (
        "the interactions have no timestamps, so 'last' would only be the file order: per-user random split"
    )


def make_split(dataset: Dataset | Interactions, method: str, **kwargs: Any) -> Split:
    """Split by method name: one of ``METHODS``; ``kwargs`` go to the split function.

    ``"auto"`` picks one with :func:`auto_method` (and records the choice and the reason in
    ``split.report["auto"]``).
    ``"predefined"`` returns the dataset's shipped split (``Dataset.split``); ``"catalog-arrival"``
    needs a ``Dataset`` with ``Catalog.arrival``. Names are case-insensitive and ``_`` may stand for
    ``-``.

    Examples
    --------
    >>> from explorec.data.synthetic import load_synthetic
    >>> split = make_split(load_synthetic(n_users=40, n_items=60), "leave-one-out")
    >>> split.summary()["test_users"]
    40
    """
    key = method.strip().lower().replace("_", "-") if isinstance(method, str) else method
    if key not in METHODS:
        raise ConfigError(f"unknown split method {method!r}; choose from {list(METHODS)}")
    if key == "auto":
        chosen, reason = auto_method(dataset)
        logger.info("split auto -> %s: %s", chosen, reason)
        kwargs = {k: v for k, v in kwargs.items() if k != "seed"} if chosen != "random" else kwargs
        split = make_split(dataset, chosen, **kwargs)
        return dataclasses.replace(split, report={**split.report, "auto": f"{chosen} ({reason})"})
    if key == "predefined":
        if kwargs:
            raise ConfigError(f"split method 'predefined' takes no parameters, got {sorted(kwargs)}")
        if not isinstance(dataset, Dataset) or dataset.split is None:
            name = dataset.name if isinstance(dataset, Dataset) else "(bare interactions)"
            raise DataError(f"dataset {name!r} ships no predefined split; choose one of {list(SPLITTERS)}")
        return dataset.split
    fn = SPLITTERS[key]
    allowed = [p for p in inspect.signature(fn).parameters if p not in ("data", "dataset")]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(f"split method {key!r} got unknown parameters {unknown}; it accepts {allowed}")
    if key == "catalog-arrival":
        if not isinstance(dataset, Dataset):
            raise ConfigError("split method 'catalog-arrival' needs a Dataset (with Catalog.arrival)")
        return fn(dataset, **kwargs)
    data = dataset.interactions if isinstance(dataset, Dataset) else dataset
    try:
        return fn(data, **kwargs)
    except TypeError as error:  # a required parameter such as few-shot's k is missing
        if "required" in str(error):
            raise ConfigError(f"split method {key!r}: {error}") from None
        raise


def describe(split: Split) -> dict[str, Any]:
    """``Split.summary()`` plus the splitter's report and the split's name."""
    return {"name": split.name, **split.summary(), **split.report}


# ---------------------------------------------------------------------------- helpers
def _build(
    data: Interactions,
    part: npt.NDArray[np.int8],
    name: str,
    report: dict[str, Any],
    cold_items: npt.NDArray[np.int64] | None = None,
) -> Split:
    train = data.select(part == TRAIN)
    if len(train) == 0:
        raise DataError(f"{name}: train would be empty")
    split = Split(
        train,
        data.select(part == VALID),
        data.select(part == TEST),
        name=name,
        cold_items=np.zeros(0, dtype=np.int64) if cold_items is None else cold_items,
        report=report,
    )
    logger.info("split %s: %s", name, describe(split))
    return split


def _positions_by_time(
    data: Interactions,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Rows ordered by (user, time, row); each row's position in its user's history; its length."""
    order = data.chronological_order()
    users = data.user[order]
    return order, _position_in_group(users, data.n_users), data.user_counts()[users]


def _position_in_group(sorted_groups: npt.NDArray[np.int64], n_groups: int) -> npt.NDArray[np.int64]:
    """0, 1, 2, ... within each run of equal values of a sorted array."""
    starts = np.searchsorted(sorted_groups, np.arange(n_groups))
    return np.arange(sorted_groups.size, dtype=np.int64) - starts[sorted_groups]


def _cold_counts(data: Interactions, part: npt.NDArray[np.int8]) -> dict[str, int]:
    """Valid/test rows whose user or item has no train row, and test users without a train row."""
    train = part == TRAIN
    train_users = np.bincount(data.user[train], minlength=data.n_users) > 0
    train_items = np.bincount(data.item[train], minlength=data.n_items) > 0
    out = {}
    for name, code in (("valid", VALID), ("test", TEST)):
        rows = part == code
        out[f"{name}_rows_cold_user"] = int((rows & ~train_users[data.user]).sum())
        out[f"{name}_rows_cold_item"] = int((rows & ~train_items[data.item]).sum())
    out["test_users_cold"] = int((~train_users[np.unique(data.user[part == TEST])]).sum())
    return out


def _int_at_least(name: str, value: int, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _fraction(name: str, value: float, *, low_open: bool, high_open: bool) -> float:
    ok = isinstance(value, int | float | np.number) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        v = float(value)
        ok = (v > 0.0 if low_open else v >= 0.0) and (v < 1.0 if high_open else v <= 1.0)
    if not ok:
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ConfigError(f"{name} must lie in {interval}, got {value!r}")
    return float(value)


def _ratios(ratios: tuple[float, float, float]) -> tuple[float, float, float]:
    values = tuple(ratios) if isinstance(ratios, list | tuple) else ()
    ok = len(values) == 3 and all(
        isinstance(v, int | float | np.number) and not isinstance(v, bool) and np.isfinite(v) and v >= 0
        for v in values
    )
    if not ok or values[0] <= 0 or values[2] <= 0 or abs(sum(values) - 1.0) > 1e-6:
        raise ConfigError(
            f"ratios must be three non-negative numbers (train, valid, test) summing to 1 with train > 0 "
            f"and test > 0, got {ratios!r}"
        )
    return float(values[0]), float(values[1]), float(values[2])


def _seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)
