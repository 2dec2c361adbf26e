"""The re-ranker interface and what re-rankers share.

A re-ranker takes one user's candidates (a :class:`~explorec.types.CandidateFrame`) and returns a
frame of at most ``k`` of those items in a new order. Re-rankers are **deterministic**: the
exploration policy, which comes after them in :func:`explorec.pipeline.recommend`, is the only random stage.

Conventions every re-ranker here follows (documented once, relied on by the pipeline):

* **Order is the answer; scores stay each item's own.** A re-ranker returns a
  :class:`~explorec.types.CandidateFrame` of the picked rows in the new order (``positions`` =
  ``0..k-1``); every row keeps its own model score and its columns. A score re-writer such as
  :class:`~explorec.rerank.debias.PopularityDebias` writes its adjusted scores into the
  ``rerank_score`` column, which later re-rankers use as relevance; the model score is never
  replaced, so the slate and the impression log record what the model said about each item.
* **Declared columns.** Each re-ranker names the frame columns it reads in ``requires``
  (``vectors`` for MMR and DPP, ``categories`` for calibration, ``groups`` for fairness,
  ``popularity`` for debiasing; a chain declares the union). :meth:`Reranker.prepare` builds the
  missing ones from ``item_vectors`` and the ``RerankContext`` with the one column builder,
  :func:`explorec.columns.build_columns`; the pipeline and the trade-off sweeps call it once per
  frame before re-ranking. Only the user's history, which is user-level, stays in the context.
* **Input order.** ``_select`` sees the unmasked rows in the previous stage's order (the score order
  for the first stage, ties: lower item index) and the relevance values aligned with them; "the
  first" among equals is the earlier one in that order. Masked rows are never returned.
* **Relevance** inside a trade-off objective is the candidate score min-max normalised to ``[0, 1]``
  over the candidate list (all ones when every score is equal), so a weight means the same for an
  EASE score, a cosine or a popularity count.
* **k larger than the list**: all candidates are returned (re-ranked) and the shortfall is logged at
  INFO level; ``k <= 0`` is a ``ConfigError``.
* **Weights outside their range** raise ``ConfigError`` naming the parameter, the range and the value.
* Non-finite candidate scores raise ``DataError`` (mask items by leaving them out of the list).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from explorec.errors import ConfigError, DataError, check_positive_int
from explorec.types import CandidateFrame

if TYPE_CHECKING:
    from explorec.data.interactions import Catalog, Interactions

logger = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


# ---------------------------------------------------------------------------------- context
@dataclass(frozen=True, eq=False)
class RerankContext:
    """Item-level side information (shared by all users) plus one user's history.

    Attributes
    ----------
    item_categories : float[n_items, n_categories] (dense or scipy sparse), optional
        ``p(category | item)``; rows are normalised to sum to 1 where they are not all zero. Used by
        calibration, and by MMR/DPP as the documented fallback similarity when no item vectors exist.
    item_groups : int[n_items], optional
        Provider / popularity-bucket id of each item (fairness re-ranker).
    item_popularity : float[n_items], optional
        Interaction count of each item in the training data (debiasing, popularity buckets).
    history : int64[m], optional
        The user's known items (calibration's target distribution).
    category_names : tuple of str
        Names of the category columns (reporting only).
    """

    item_categories: Any = None
    item_groups: I64 | None = None
    item_popularity: F64 | None = None
    history: I64 | None = None
    category_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.item_categories is not None:
            cats = self.item_categories
            if sp.issparse(cats):
                cats = sp.csr_matrix(cats, dtype=np.float64)
            else:
                cats = np.asarray(cats, dtype=np.float64)
                if cats.ndim != 2:
                    raise DataError(f"item_categories must be 2-d [n_items, n_categories], got {cats.shape}")
            if (cats.min() if cats.shape[0] * cats.shape[1] else 0.0) < 0:
                raise DataError("item_categories must be non-negative (p(category | item))")
            object.__setattr__(self, "item_categories", _row_normalise(cats))
        if self.item_groups is not None:
            object.__setattr__(self, "item_groups", np.asarray(self.item_groups, dtype=np.int64).reshape(-1))
        if self.item_popularity is not None:
            pop = np.asarray(self.item_popularity, dtype=np.float64).reshape(-1)
            if pop.size and (not np.isfinite(pop).all() or pop.min() < 0):
                raise DataError("item_popularity must be finite and >= 0")
            object.__setattr__(self, "item_popularity", pop)
        if self.history is not None:
            object.__setattr__(self, "history", np.asarray(self.history, dtype=np.int64).reshape(-1))

    def with_history(self, history: npt.ArrayLike | None) -> RerankContext:
        """A copy for one user whose known items are ``history``."""
        return replace(self, history=None if history is None else np.asarray(history, dtype=np.int64))

    @classmethod
    def from_data(
        cls,
        train: Interactions | None = None,
        catalog: Catalog | None = None,
        *,
        category_field: str | None = "auto",
        separator: str = "auto",
        group_attribute: str | None = None,
        n_popularity_buckets: int = 3,
    ) -> RerankContext:
        """Build the item-level context from training data and a catalogue.

        Parameters
        ----------
        train : Interactions, optional
            Gives ``item_popularity`` (event counts) and, when no ``group_attribute`` is given,
            popularity buckets as ``item_groups`` (see :func:`popularity_buckets`).
        catalog : Catalog, optional
            Gives ``item_categories`` from a text field (e.g. MovieLens ``genres``: ``"A|B"`` ->
            ``p = 1/2`` each) and ``item_groups`` from an attribute (e.g. a provider id).
        category_field : str or None
            Text field holding categories; ``"auto"`` tries ``genres`` then ``categories``; None skips.
        separator : str
            Separator between the categories of one item; ``"auto"``: ``|`` when any value holds one,
            else ``,`` (MovieLens genres as the loaders give them: ``"Adventure, Comedy"``).
        group_attribute : str, optional
            Catalogue attribute (or text field, e.g. ``brand``) whose values become ``item_groups``.
        n_popularity_buckets : int
            Buckets of equal interaction mass when groups come from popularity.
        """
        popularity = None if train is None else train.item_counts().astype(np.float64)
        categories: Any = None
        names: list[str] = []
        if catalog is not None and category_field is not None:
            field = category_field
            if field == "auto":
                field = next((f for f in ("genres", "categories") if f in catalog.fields), "")
            if field:
                if field not in catalog.fields:
                    raise ConfigError(
                        f"category_field {field!r} is not a catalogue field; fields: {sorted(catalog.fields)}"
                    )
                values = catalog.fields[field]
                sep = separator
                if sep == "auto":
                    sep = "|" if any("|" in str(v) for v in values) else ","
                categories, names = category_matrix(values, separator=sep)
        groups = None
        if catalog is not None and group_attribute is not None:
            if group_attribute in catalog.attributes:
                values = np.asarray(catalog.attributes[group_attribute])
            elif group_attribute in catalog.fields:
                values = np.asarray(catalog.fields[group_attribute])
            else:
                raise ConfigError(
                    f"group_attribute {group_attribute!r} is neither a catalogue attribute "
                    f"{sorted(catalog.attributes)} nor a field {sorted(catalog.fields)}"
                )
            groups = np.unique(values.astype(str), return_inverse=True)[1].astype(np.int64)
        elif popularity is not None:
            groups = popularity_buckets(popularity, n_buckets=n_popularity_buckets)
        return cls(categories, groups, popularity, None, tuple(names))


def _row_normalise(cats: Any) -> Any:
    sums = np.asarray(cats.sum(axis=1), dtype=np.float64).reshape(-1)
    inv = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    if sp.issparse(cats):
        return sp.csr_matrix(sp.diags(inv) @ cats)
    return cats * inv[:, None]


def category_matrix(values: npt.ArrayLike, *, separator: str = "|") -> tuple[sp.csr_matrix, list[str]]:
    """``p(category | item)`` from one text field with ``separator``-joined categories.

    Each of an item's ``m`` distinct categories gets ``1/m`` (Steck 2018, section 2); an empty value
    (or ``"(no genres listed)"``) gives an all-zero row.

    Returns
    -------
    (float64 csr [n_items, n_categories], category names sorted)
    """
    texts = [str(v) for v in np.asarray(values, dtype=object)]
    per_item = [
        sorted({c.strip() for c in t.split(separator) if c.strip() and c.strip() != "(no genres listed)"})
        for t in texts
    ]
    names = sorted({c for cs in per_item for c in cs})
    index = {c: j for j, c in enumerate(names)}
    rows = np.repeat(np.arange(len(per_item)), [len(cs) for cs in per_item])
    cols = np.array([index[c] for cs in per_item for c in cs], dtype=np.int64)
    vals = np.concatenate([np.full(len(cs), 1.0 / len(cs)) for cs in per_item if cs] or [np.zeros(0)])
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(per_item), len(names))), names


def popularity_buckets(popularity: npt.ArrayLike, *, n_buckets: int = 3) -> I64:
    """Bucket items by popularity into ``n_buckets`` groups of (about) equal interaction mass.

    Bucket 0 is the head: the most popular items that together hold the first ``1/n_buckets`` of all
    interactions; the last bucket is the long tail (it also holds every item without interactions).
    Ties are broken by item index, so the buckets are deterministic.

    Examples
    --------
    >>> popularity_buckets([10, 1, 5, 4], n_buckets=2).tolist()
    [0, 1, 1, 1]
    """
    n_buckets = check_positive_int("n_buckets", n_buckets)
    pop = np.asarray(popularity, dtype=np.float64).reshape(-1)
    order = np.lexsort((np.arange(pop.size), -pop))
    total = pop.sum()
    if total <= 0:
        return np.full(pop.size, n_buckets - 1, dtype=np.int64)
    before = np.cumsum(pop[order]) - pop[order]  # mass of the strictly more popular items
    bucket = np.minimum((before / total * n_buckets).astype(np.int64), n_buckets - 1)
    bucket[pop[order] == 0] = n_buckets - 1
    out = np.empty(pop.size, dtype=np.int64)
    out[order] = bucket
    return out


# ---------------------------------------------------------------------------------- interface
class Reranker(ABC):
    """Re-orders one user's candidates; subclasses implement ``_select``.

    The public :meth:`rerank` validates the input, drops masked rows, handles ``k > len(candidates)``
    and turns the selected order into the output frame (own scores kept, see the module docstring).
    """

    #: spec name (``parse_rerank_spec``)
    name: ClassVar[str] = ""
    #: True when the re-ranker writes adjusted scores (into the ``rerank_score`` column)
    rescoring: ClassVar[bool] = False

    #: frame columns the re-ranker reads (see :data:`explorec.types.COLUMNS`); :meth:`prepare`
    #: builds the missing ones with :func:`explorec.columns.build_columns`
    requires: ClassVar[tuple[str, ...]] = ()

    def columns_needed(self) -> tuple[str, ...]:
        """The frame columns this re-ranker instance reads (default: the class's ``requires``)."""
        return self.requires

    def column_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~explorec.columns.build_columns` this instance sets (none)."""
        return {}

    def prepare(
        self,
        candidates: CandidateFrame,
        *,
        item_vectors: npt.ArrayLike | None = None,
        context: RerankContext | None = None,
    ) -> CandidateFrame:
        """``candidates`` with the columns of :meth:`columns_needed` built from the item-level data.

        The one place a re-ranker's columns come from: ``vectors`` from ``item_vectors`` (fallback:
        ``context.item_categories``), ``categories`` from ``context.item_categories``, ``groups``
        from ``context.item_groups`` (fallback: popularity buckets), ``popularity`` from
        ``context.item_popularity``. Columns already present are kept, so the pipeline can build
        them once for a whole chain. ``ConfigError`` names a column that cannot be built and how to
        provide it.
        """
        from explorec.columns import build_columns

        ctx = RerankContext() if context is None else context
        return build_columns(
            candidates,
            self.columns_needed(),
            item_vectors=item_vectors,
            item_categories=ctx.item_categories,
            item_groups=ctx.item_groups,
            item_counts=ctx.item_popularity,
            who=self.who,
            sources=CONTEXT_SOURCES,
            **self.column_options(),
        )

    @property
    def who(self) -> str:
        """The re-ranker's name in error messages."""
        return type(self).__name__

    def rerank(
        self,
        candidates: CandidateFrame,
        k: int,
        *,
        item_vectors: npt.ArrayLike | None = None,
        context: RerankContext | None = None,
    ) -> CandidateFrame:
        """Select and order at most ``k`` of ``candidates``.

        Parameters
        ----------
        candidates : CandidateFrame
            One user's candidates (internal item ids, own model scores, the order so far), with the
            columns of :meth:`columns_needed` or the item-level data to build them.
        k : int
            How many to return (all unmasked candidates when fewer exist; logged).
        item_vectors : float[n_items, dim], optional
            Vectors of *all* items, indexed by internal item id: builds the ``vectors`` column (MMR,
            DPP) when the frame lacks it.
        context : RerankContext, optional
            Categories, groups and popularity (to build the frame columns the frame lacks) and the
            user's history (user-level, so not a column: calibration's target distribution).

        Returns
        -------
        CandidateFrame
            ``min(k, n_unmasked)`` distinct candidate rows in the new order, own scores kept.
        """
        k = check_positive_int("k", k)
        frame = candidates.unmasked()  # rows in the previous stage's order, masked rows dropped
        n = len(frame)
        if n == 0:
            return frame
        values = np.asarray(
            frame.column("rerank_score") if frame.has("rerank_score") else frame.scores, dtype=np.float64
        )
        if not np.isfinite(values).all():
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise DataError(
                f"{type(self).__name__}.rerank: candidate {bad} (item {int(frame.items[bad])}) has "
                f"score {values[bad]}; mask the item (leave it out, or set the frame's mask) instead"
            )
        items = frame.items
        if items.min() < 0:
            raise DataError(f"{type(self).__name__}.rerank: negative item index {int(items.min())}")
        present = np.zeros(int(items.max()) + 1, dtype=bool)
        present[items] = True
        if int(np.count_nonzero(present)) != n:
            raise DataError(f"{type(self).__name__}.rerank: the candidate list holds an item twice")
        if k > n:
            logger.info("%s: k=%d but only %d candidates; returning all of them", type(self).__name__, k, n)
            k = n
        frame = self.prepare(frame, item_vectors=item_vectors, context=context)
        picked, new_scores = self._select(frame, values, k, context)
        out = frame.take(picked)
        if new_scores is not None:
            out = out.with_columns(rerank_score=np.asarray(new_scores, dtype=np.float64))
        return out

    @abstractmethod
    def _select(
        self,
        frame: CandidateFrame,
        scores: F64,
        k: int,
        context: RerankContext | None,
    ) -> tuple[I64, F64 | None]:
        """Positions (into ``frame``, in the previous stage's order) of the ``k`` picks, in order.

        ``frame`` holds the unmasked candidates with the columns of :meth:`columns_needed`;
        ``scores`` are the relevance values aligned with its rows (the own model scores, or an
        earlier re-scoring stage's ``rerank_score``); ``context`` carries only what is user-level
        (the history). Returns the positions and, for re-scoring re-rankers, the new scores of the
        picks (else None).
        """

    def __repr__(self) -> str:
        params = ", ".join(
            f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_") and not k.endswith("_")
        )
        return f"{type(self).__name__}({params})"


# ---------------------------------------------------------------------------------- helpers
#: how a re-ranker's caller provides each item-level source (build_columns' error messages)
CONTEXT_SOURCES: dict[str, str] = {
    "item_vectors": "item_vectors (float[n_items, dim], e.g. explorec.encoders.item_vectors)",
    "item_categories": (
        "context.item_categories (p(category | item), e.g. RerankContext.from_data(train, catalog))"
    ),
    "item_groups": "context.item_groups (provider or popularity bucket per item)",
    "item_counts": (
        "context.item_popularity (training interaction counts, e.g. RerankContext.from_data(train))"
    ),
}


def relevance(scores: F64) -> F64:
    """Scores min-max normalised to ``[0, 1]`` over the candidate list (ones when all equal)."""
    low, high = float(scores.min()), float(scores.max())
    if high - low <= 0:
        return np.ones_like(scores)
    return (scores - low) / (high - low)


def unit_rows(vectors: npt.ArrayLike, who: str) -> F32:
    """The ``vectors`` column L2-normalised, ``float32[n, dim]``.

    Zero vectors stay zero (their cosine with every other item is 0) and are counted in the log.
    """
    vecs = np.asarray(vectors, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", vecs, vecs))
    if np.abs(norms - 1.0).max() <= 1e-4:  # already unit (encoder output): skip the division
        return vecs
    zero = norms <= 0
    if zero.any():
        logger.debug("%s: %d candidates have a zero vector (cosine 0 with everything)", who, int(zero.sum()))
        norms = np.where(zero, 1.0, norms)
    out: F32 = vecs / norms[:, None]
    return out


def check_weight(name: str, value: float, low: float, high: float, *, low_open: bool = False) -> float:
    """``value`` as float when it lies in ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number in [{low}, {high}], got {value!r}") from None
    ok = (low < v if low_open else low <= v) and v <= high
    if not ok or not np.isfinite(v):
        bracket = "(" if low_open else "["
        raise ConfigError(f"{name} must lie in {bracket}{low}, {high}], got {value!r}")
    return v
