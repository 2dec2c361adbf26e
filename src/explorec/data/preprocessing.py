"""Preprocessing steps that say what they removed: binarize, deduplicate, k-core, chronological order.

Every step takes an ``Interactions`` and returns ``(Interactions, Report)``. The report states the
step with its parameters, the rows in and out, why rows were removed, and how many users and items
lost all their rows. Nothing is removed silently.

Vocabularies stay as they are by default: a removed user or item keeps its index and simply has no
rows, so that catalogues, user features and embeddings stay aligned. ``compact=True`` re-indexes the
vocabularies to the users and items that still have rows, and the report says so.

Examples
--------
>>> from explorec.data import Interactions
>>> data = Interactions.from_ids(["a", "a", "b"], ["x", "x", "y"], timestamp=[1, 2, 3])
>>> data, reports = preprocess(data, steps=["deduplicate", ("k_core", {"user_k": 1, "item_k": 1})])
>>> len(data), reports[0].rows_removed
(2, 1)
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from explorec.data.interactions import Catalog, Dataset, Interactions
from explorec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

KEEP = ("last", "first", "sum")


@dataclass(frozen=True)
class Report:
    """What one preprocessing step did.

    Attributes
    ----------
    step : str
        The step and its parameters, e.g. ``"k_core(user_k=5, item_k=5)"``.
    rows_in, rows_out : int
        Rows before and after.
    reason : str
        Why rows were removed (or what changed when none were).
    users_removed, items_removed : int
        Users / items that had rows before the step and have none after it.
    notes : tuple of str
        Further facts: passes of an iterative filter, vocabulary re-indexing, ...
    """

    step: str
    rows_in: int
    rows_out: int
    reason: str
    users_removed: int = 0
    items_removed: int = 0
    notes: tuple[str, ...] = ()

    @property
    def rows_removed(self) -> int:
        return self.rows_in - self.rows_out

    def lines(self) -> list[str]:
        """The report as text lines (the first one is a summary, the rest are indented notes)."""
        head = f"{self.step}: {self.rows_in:,} -> {self.rows_out:,} rows"
        if self.rows_removed:
            head += f" ({self.rows_removed:,} removed: {self.reason})"
        else:
            head += f" (none removed; {self.reason})"
        if self.users_removed or self.items_removed:
            head += f"; {self.users_removed:,} users and {self.items_removed:,} items lost all their rows"
        return [head, *(f"  - {note}" for note in self.notes)]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def render(reports: Sequence[Report]) -> str:
    """All reports as one text block, one step after the other."""
    return "\n".join(line for report in reports for line in report.lines())


# ---------------------------------------------------------------------------- steps
def binarize(
    data: Interactions, *, threshold: float = 4.0, compact: bool = False
) -> tuple[Interactions, Report]:
    """Keep the rows rated ``>= threshold`` (explicit ratings -> implicit positive feedback).

    Rows without a rating (NaN) are removed too and counted in the notes. The ``rating`` column is
    kept; ``weight`` is unchanged.

    Raises
    ------
    DataError
        When ``data`` has no ratings.
    """
    if data.rating is None:
        raise DataError("binarize needs explicit ratings, but this data has none (it is implicit already)")
    if not isinstance(threshold, int | float | np.number) or not np.isfinite(threshold):
        raise ConfigError(f"threshold must be a finite number, got {threshold!r}")
    keep = data.rating >= threshold
    notes = []
    missing = int(np.isnan(data.rating).sum())
    if missing:
        notes.append(f"{missing:,} rows without a rating (NaN) are among the removed")
    step = f"binarize(threshold={threshold:g})"
    return _finish(data, keep, step, f"rating below {threshold:g}", notes, compact)


def deduplicate(
    data: Interactions, *, keep: Literal["last", "first", "sum"] = "last", compact: bool = False
) -> tuple[Interactions, Report]:
    """One row per (user, item) pair.

    Parameters
    ----------
    keep : {"last", "first", "sum"}
        ``"last"`` keeps the latest event of each pair (ties: the later row), ``"first"`` the earliest
        (ties: the earlier row); ``"sum"`` keeps the latest event with ``weight`` set to the sum of the
        pair's weights (its ``rating`` stays that of the latest event).

    Kept rows stay in their original order.
    """
    if keep not in KEEP:
        raise ConfigError(f"keep must be one of {list(KEEP)}, got {keep!r}")
    n = len(data)
    rows = np.arange(n)
    # sort by pair, then time, then row: the pair's first/last event sits at its group's edge
    order = np.lexsort((rows, data.timestamp, data.item, data.user))
    u, i = data.user[order], data.item[order]
    new_pair = np.ones(n, dtype=bool)
    new_pair[1:] = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
    starts = np.flatnonzero(new_pair)
    ends = np.append(starts[1:], n) - 1
    chosen = order[starts] if keep == "first" else order[ends]
    mask = np.zeros(n, dtype=bool)
    mask[chosen] = True
    reason = "repeated (user, item) pairs"
    if keep == "sum":
        weight = data.weight.copy()
        if n:
            weight[chosen] = np.add.reduceat(data.weight[order].astype(np.float64), starts)
        data = dataclasses.replace(data, weight=weight)
        reason += ", their weights summed into the kept row"
    return _finish(data, mask, f"deduplicate(keep={keep!r})", reason, [], compact)


def k_core(
    data: Interactions, *, user_k: int = 5, item_k: int = 5, compact: bool = False
) -> tuple[Interactions, Report]:
    """Keep the largest subset in which every user has ``>= user_k`` rows and every item ``>= item_k``.

    Removes users and items below their threshold, then repeats (removing an item can push a user
    below ``user_k``) until nothing changes. Counts rows, so run ``deduplicate`` first to count
    distinct items. Each pass is listed in the report's notes.
    """
    for name, value in (("user_k", user_k), ("item_k", item_k)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    mask = np.ones(len(data), dtype=bool)
    notes = []
    passes = 0
    while True:
        user_rows = np.bincount(data.user[mask], minlength=data.n_users)
        item_rows = np.bincount(data.item[mask], minlength=data.n_items)
        low_user = (user_rows > 0) & (user_rows < user_k)
        low_item = (item_rows > 0) & (item_rows < item_k)
        drop = mask & (low_user[data.user] | low_item[data.item])
        if not drop.any():
            break
        passes += 1
        notes.append(
            f"pass {passes}: {int(drop.sum()):,} rows of {int(low_user.sum()):,} users with < {user_k} rows "
            f"and {int(low_item.sum()):,} items with < {item_k} rows"
        )
        mask &= ~drop
    notes.append(f"stable after {passes} removal pass{'es' if passes != 1 else ''}")
    reason = f"users with fewer than {user_k} rows or items with fewer than {item_k} rows, iteratively"
    return _finish(data, mask, f"k_core(user_k={user_k}, item_k={item_k})", reason, notes, compact)


def chronological(data: Interactions) -> tuple[Interactions, Report]:
    """Rows sorted by time (stable: ties keep their order); nothing is removed."""
    order = np.argsort(data.timestamp, kind="stable")
    moved = int((order != np.arange(len(data))).sum())
    report = Report(
        "chronological()", len(data), len(data), f"rows re-ordered by time, {moved:,} changed place"
    )
    return data.select(order), report


def compact_vocabularies(data: Interactions) -> tuple[Interactions, Report]:
    """Re-index the vocabularies to the users and items that have rows (original order kept)."""
    result = _compact(data)[0]
    note = _compact_note(data)
    report = Report("compact()", len(data), len(data), "vocabularies re-indexed", notes=(note,))
    return result, report


# ---------------------------------------------------------------------------- pipeline
STEPS: dict[str, Callable[..., tuple[Interactions, Report]]] = {
    "binarize": binarize,
    "deduplicate": deduplicate,
    "k_core": k_core,
    "chronological": chronological,
    "compact": compact_vocabularies,
}

StepSpec = str | tuple[str, dict[str, Any]]


@overload
def preprocess(
    data: Interactions, steps: Sequence[StepSpec], *, compact: bool = False
) -> tuple[Interactions, list[Report]]: ...
@overload
def preprocess(
    data: Dataset, steps: Sequence[StepSpec], *, compact: bool = False
) -> tuple[Dataset, list[Report]]: ...
def preprocess(
    data: Interactions | Dataset, steps: Sequence[StepSpec], *, compact: bool = False
) -> tuple[Interactions | Dataset, list[Report]]:
    """Run steps in order and collect their reports.

    Parameters
    ----------
    data : Interactions or Dataset
        For a ``Dataset`` the interactions are processed; when vocabularies are compacted the
        catalogue and user features are re-indexed with them. A shipped split no longer matches the
        processed rows, so it is dropped, and a report says so.
    steps : sequence of str or (str, dict)
        Step names (``binarize``, ``deduplicate``, ``k_core``, ``chronological``, ``compact``; ``-``
        and ``_`` are interchangeable), optionally with keyword arguments:
        ``["deduplicate", ("k_core", {"user_k": 5, "item_k": 5})]``.
    compact : bool
        Re-index the vocabularies once at the end (a final ``compact`` report).

    Returns
    -------
    (same type as data, list[Report])
    """
    parsed = [_parse_step(spec) for spec in steps]
    interactions = data.interactions if isinstance(data, Dataset) else data
    rows_in = len(interactions)
    reports: list[Report] = []
    for fn, kwargs in parsed:
        interactions, report = fn(interactions, **kwargs)
        reports.append(report)
        logger.info("%s", report.lines()[0])
    if compact:
        interactions, report = compact_vocabularies(interactions)
        reports.append(report)
        logger.info("%s", report.lines()[0])
    if not isinstance(data, Dataset):
        return interactions, reports
    return _rebuild(data, interactions, rows_in, reports), reports


def _parse_step(spec: StepSpec) -> tuple[Callable[..., tuple[Interactions, Report]], dict[str, Any]]:
    if isinstance(spec, str):
        name, kwargs = spec, {}
    elif (
        isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict)
    ):
        name, kwargs = spec[0], dict(spec[1])
    else:
        name, kwargs = None, {}
    if not isinstance(name, str):
        raise ConfigError(f"a preprocessing step is a name or a (name, kwargs) pair, got {spec!r}")
    key = name.strip().lower().replace("-", "_")
    if key not in STEPS:
        raise ConfigError(f"unknown preprocessing step {name!r}; choose from {sorted(STEPS)}")
    fn = STEPS[key]
    try:
        inspect.signature(fn).bind(None, **kwargs)
    except TypeError:
        allowed = [p for p in inspect.signature(fn).parameters if p != "data"]
        raise ConfigError(f"step {key!r} got parameters {sorted(kwargs)}; it accepts {allowed}") from None
    return fn, kwargs


def _rebuild(data: Dataset, interactions: Interactions, rows_in: int, reports: list[Report]) -> Dataset:
    same_items = interactions.item_ids is data.interactions.item_ids or np.array_equal(
        interactions.item_ids, data.interactions.item_ids
    )
    catalog = data.catalog
    if not same_items:
        catalog = _select_catalog(catalog, data.interactions.item_index(interactions.item_ids))
    user_features = data.user_features
    if len(interactions.user_ids) != len(data.interactions.user_ids):
        keep_users = data.interactions.user_index(interactions.user_ids)
        user_features = {name: values[keep_users] for name, values in user_features.items()}
    split = data.split
    if split is not None:
        reports.append(
            Report(
                "drop shipped split",
                len(interactions),
                len(interactions),
                f"dataset {data.name!r}'s shipped split no longer matches the preprocessed rows "
                f"({rows_in:,} rows before); make a new split",
            )
        )
        logger.warning("%s", reports[-1].lines()[0])
        split = None
    return dataclasses.replace(
        data, interactions=interactions, catalog=catalog, user_features=user_features, split=split
    )


def _select_catalog(catalog: Catalog, items: npt.NDArray[np.int64]) -> Catalog:
    return Catalog(
        catalog.item_ids[items],
        fields={name: values[items] for name, values in catalog.fields.items()},
        attributes={name: values[items] for name, values in catalog.attributes.items()},
        arrival=None if catalog.arrival is None else catalog.arrival[items],
    )


# ---------------------------------------------------------------------------- helpers
def _finish(
    data: Interactions, keep: npt.NDArray[np.bool_], step: str, reason: str, notes: list[str], compact: bool
) -> tuple[Interactions, Report]:
    result = data.select(keep)
    users_before = np.bincount(data.user, minlength=data.n_users) > 0
    items_before = np.bincount(data.item, minlength=data.n_items) > 0
    users_after = np.bincount(result.user, minlength=data.n_users) > 0
    items_after = np.bincount(result.item, minlength=data.n_items) > 0
    if compact:
        notes = [*notes, _compact_note(result)]
        result = _compact(result)[0]
    report = Report(
        step,
        len(data),
        len(result),
        reason,
        users_removed=int((users_before & ~users_after).sum()),
        items_removed=int((items_before & ~items_after).sum()),
        notes=tuple(notes),
    )
    return result, report


def _compact(
    data: Interactions,
) -> tuple[Interactions, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Vocabularies reduced to the ids with rows; also the kept old indices of users and items."""
    users = np.flatnonzero(np.bincount(data.user, minlength=data.n_users) > 0).astype(np.int64)
    items = np.flatnonzero(np.bincount(data.item, minlength=data.n_items) > 0).astype(np.int64)
    user_map = np.full(data.n_users, -1, dtype=np.int64)
    user_map[users] = np.arange(users.size)
    item_map = np.full(data.n_items, -1, dtype=np.int64)
    item_map[items] = np.arange(items.size)
    result = dataclasses.replace(
        data,
        user=user_map[data.user],
        item=item_map[data.item],
        user_ids=data.user_ids[users],
        item_ids=data.item_ids[items],
        _user_index={},
        _item_index={},
    )
    return result, users, items


def _compact_note(data: Interactions) -> str:
    n_users = int((np.bincount(data.user, minlength=data.n_users) > 0).sum())
    n_items = int((np.bincount(data.item, minlength=data.n_items) > 0).sum())
    return (
        f"vocabularies compacted (re-indexed): users {data.n_users:,} -> {n_users:,}, "
        f"items {data.n_items:,} -> {n_items:,}"
    )
