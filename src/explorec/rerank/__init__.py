"""Deterministic re-rankers: diversity (MMR, DPP), calibration, exposure fairness, popularity debiasing.

They sit between scoring and the exploration policy in :func:`explorec.pipeline.recommend`; the
policy stays the only random stage. See :mod:`explorec.rerank.base` for the shared conventions
(each item keeps its own score, ``k`` larger than the list, errors) and :mod:`explorec.rerank.spec`
for the ``--rerank`` grammar.

Examples
--------
>>> import numpy as np
>>> scores = np.array([[0.9, 0.8, 0.1, 0.7]], dtype=np.float32)
>>> vectors = np.array([[1, 0], [1, 0.05], [0, 1], [0.1, 1]], dtype=np.float32)
>>> [s.items.tolist() for s in apply_rerankers(scores, "mmr:0.5", 2, vectors)]
[[0, 3]]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from explorec.errors import DataError, check_positive_int
from explorec.ranking import apply_mask, mask_matrix, top_k
from explorec.rerank.base import RerankContext, Reranker, category_matrix, popularity_buckets
from explorec.rerank.calibration import Calibration
from explorec.rerank.debias import PopularityDebias
from explorec.rerank.dpp import DPP, greedy_map
from explorec.rerank.fairness import FairExposure
from explorec.rerank.mmr import MMR
from explorec.rerank.spec import RerankChain, parse_rerank_spec
from explorec.types import CandidateFrame

__all__ = [
    "DPP",
    "MMR",
    "Calibration",
    "FairExposure",
    "PopularityDebias",
    "RerankChain",
    "RerankContext",
    "Reranker",
    "apply_rerankers",
    "as_chain",
    "category_matrix",
    "greedy_map",
    "parse_rerank_spec",
    "popularity_buckets",
    "top_candidates",
]

logger = logging.getLogger(__name__)


def top_candidates(
    scores: npt.ArrayLike,
    n_candidates: int,
    *,
    masked: npt.NDArray[np.bool_] | None = None,
) -> list[CandidateFrame]:
    """The ``n_candidates`` best items of each row, best first (ties: lower item index first).

    Masked entries (see :func:`explorec.ranking.mask_matrix`) are never candidates, so a row may
    yield fewer; NaN scores raise ``DataError``.
    """
    n_candidates = check_positive_int("n_candidates", n_candidates)
    s = apply_mask(scores, masked)  # [B, n_items], masked = -inf
    pos = top_k(s, n_candidates)  # [B, n] column = item index, ties: lower item
    out = []
    for row, idx in zip(s, pos, strict=True):
        vals = row[idx]
        keep = vals > -np.inf
        out.append(CandidateFrame(idx[keep], vals[keep], np.arange(int(keep.sum()), dtype=np.int64)))
    return out


def apply_rerankers(
    scores_or_candidates: npt.ArrayLike | CandidateFrame | Sequence[CandidateFrame],
    rerankers: Reranker | Sequence[Reranker] | str,
    k: int,
    item_vectors: npt.ArrayLike | None = None,
    *,
    context: RerankContext | None = None,
    histories: Sequence[npt.ArrayLike] | None = None,
    exclude_seen: bool = True,
    masked: npt.NDArray[np.bool_] | None = None,
    n_candidates: int = 100,
) -> list[CandidateFrame]:
    """Re-rank a batch: what the pipeline's ``recommend()`` and the CLI's ``--rerank`` call.

    Parameters
    ----------
    scores_or_candidates : float[B, n_items], CandidateFrame or sequence of CandidateFrame
        A score matrix (the top ``n_candidates`` unmasked items of each row become the candidates)
        or ready candidate lists.
    rerankers : Reranker, sequence of Reranker, or spec string (``"mmr:0.3,fair:0.5"``)
        Applied in order (see :class:`~explorec.rerank.spec.RerankChain`).
    k : int
        Length of each returned list (shorter when fewer candidates exist; logged).
    item_vectors : float[n_items, dim], optional
        Item vectors for MMR / DPP.
    context : RerankContext, optional
        Item-level side information (:meth:`RerankContext.from_data`).
    histories : sequence of int arrays, optional
        Each row's known items: given to the re-rankers as ``context.history`` (calibration) and,
        for a score matrix with ``exclude_seen``, masked from the candidates.
    exclude_seen : bool
        Mask ``histories`` items from a score matrix's candidates.
    masked : bool[B, n_items], optional
        Further items never to recommend (score-matrix input only).
    n_candidates : int
        Candidate pool per row for a score matrix.

    Returns
    -------
    list of CandidateFrame, one per row (per candidate list).
    """
    k = check_positive_int("k", k)
    chain = as_chain(rerankers)
    if isinstance(scores_or_candidates, CandidateFrame):
        cand_lists = [scores_or_candidates]
    elif isinstance(scores_or_candidates, Sequence) and all(
        isinstance(c, CandidateFrame) for c in scores_or_candidates
    ):
        cand_lists = list(scores_or_candidates)  # type: ignore[arg-type]
    else:
        s = np.asarray(scores_or_candidates, dtype=np.float32)
        if s.ndim != 2:
            raise DataError(f"scores must be a 2-d [B, n_items] matrix, got shape {s.shape}")
        mask = np.zeros(s.shape, dtype=bool) if masked is None else masked.copy()
        if histories is not None and exclude_seen:
            _check_rows(histories, s.shape[0])
            mask |= mask_matrix(np.arange(s.shape[0]), s.shape[1], seen=_rows_csr(histories, s.shape[1]))
        cand_lists = top_candidates(s, max(n_candidates, k), masked=mask)
    if histories is not None:
        _check_rows(histories, len(cand_lists))
    base = context if context is not None else RerankContext()
    out = []
    for row, cands in enumerate(cand_lists):
        ctx = base if histories is None else base.with_history(histories[row])
        out.append(chain.rerank(cands, k, item_vectors=item_vectors, context=ctx))
    return out


def as_chain(rerankers: Reranker | Sequence[Reranker] | str) -> RerankChain:
    """One ``RerankChain`` from a re-ranker, a sequence of them or a spec string."""
    if isinstance(rerankers, str):
        return parse_rerank_spec(rerankers)
    if isinstance(rerankers, RerankChain):
        return rerankers
    if isinstance(rerankers, Reranker):
        return RerankChain([rerankers])
    return RerankChain(list(rerankers))


def _rows_csr(histories: Sequence[npt.ArrayLike], n_items: int) -> sp.csr_matrix:
    rows = [np.asarray(h, dtype=np.int64).reshape(-1) for h in histories]
    indptr = np.concatenate([[0], np.cumsum([r.size for r in rows])])
    indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    return sp.csr_matrix((np.ones(indices.size, dtype=bool), indices, indptr), shape=(len(rows), n_items))


def _check_rows(histories: Sequence[npt.ArrayLike], n_rows: int) -> None:
    if len(histories) != n_rows:
        raise DataError(f"histories has {len(histories)} entries for {n_rows} rows")
