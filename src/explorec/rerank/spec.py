"""Re-rankers from a short text spec, for the CLI (``--rerank mmr:0.3``) and config files.

Grammar: ``NAME[:WEIGHT[:KEY=VALUE...]]``, several joined by ``,`` and applied left to right::

    mmr:0.3                   MMR, diversity weight 0.3 (lambda = 0.7)
    dpp:0.5:window=5          DPP, diversity 0.5, sliding window of 5
    calibration:0.5           Steck calibration, lambda 0.5
    fair:0.2:exposure=log     at most 20 % of the list's (log-position) exposure per group
    pop-debias:0.5,mmr:0.2    debias the scores, then diversify

The ``WEIGHT`` is the re-ranker's main knob; 0 leaves the score order unchanged for every re-ranker
except ``fair``, whose weight is the exposure cap (1 = unconstrained). Nothing is evaluated as code;
an unknown name, a weight that is not a number or lies outside its range, or an unknown option
raises ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from explorec.errors import ConfigError
from explorec.rerank.base import F64, I64, RerankContext, Reranker
from explorec.rerank.calibration import Calibration
from explorec.rerank.debias import PopularityDebias
from explorec.rerank.dpp import DPP
from explorec.rerank.fairness import FairExposure
from explorec.rerank.mmr import MMR
from explorec.spec import build, parse_spec, parse_value
from explorec.types import ScoredItems

#: spec name -> (class, the constructor argument the weight sets)
RERANKERS: dict[str, tuple[type[Reranker], str]] = {
    "mmr": (MMR, "diversity"),
    "dpp": (DPP, "diversity"),
    "calibration": (Calibration, "weight"),
    "fair": (FairExposure, "max_share"),
    "pop-debias": (PopularityDebias, "strength"),
}


class RerankChain(Reranker, Sequence[Reranker]):
    """Several re-rankers applied in order; itself a ``Reranker`` and a sequence of its stages.

    Every stage but the last re-orders the whole candidate list (``k = len(candidates)``), so the
    last one chooses its ``k`` from all candidates in the order (and with the scores) the earlier
    stages gave.
    """

    name = "chain"

    def __init__(self, stages: Sequence[Reranker]) -> None:
        self.stages = tuple(stages)

    def columns_needed(self) -> tuple[str, ...]:
        """The union of the stages' columns, in stage order."""
        return tuple(dict.fromkeys(c for stage in self.stages for c in stage.columns_needed()))

    def prepare(
        self,
        candidates: ScoredItems,
        *,
        item_vectors: npt.ArrayLike | None = None,
        context: RerankContext | None = None,
    ) -> ScoredItems:
        """Every stage's columns built once (each stage's own options, e.g. fair's ``n_buckets``)."""
        out = candidates
        for stage in self.stages:
            out = stage.prepare(out, item_vectors=item_vectors, context=context)
        return out

    def rerank(
        self,
        candidates: ScoredItems,
        k: int,
        *,
        item_vectors: npt.ArrayLike | None = None,
        context: RerankContext | None = None,
    ) -> ScoredItems:
        out = candidates
        for pos, stage in enumerate(self.stages):
            last = pos == len(self.stages) - 1
            stage_k = k if last else max(len(out), 1)
            out = stage.rerank(out, stage_k, item_vectors=item_vectors, context=context)
        if not self.stages:
            out = Reranker.rerank(self, candidates, k)
        return out

    def _select(
        self,
        frame: ScoredItems,
        scores: F64,
        k: int,
        context: RerankContext | None,
    ) -> tuple[I64, F64 | None]:
        return np.arange(k, dtype=np.int64), None  # the empty chain: top-k by score

    def __len__(self) -> int:
        return len(self.stages)

    @overload
    def __getitem__(self, index: int) -> Reranker: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Reranker]: ...

    def __getitem__(self, index: int | slice) -> Reranker | Sequence[Reranker]:
        return self.stages[index]

    def __iter__(self) -> Iterator[Reranker]:
        return iter(self.stages)

    def __repr__(self) -> str:
        return f"RerankChain({list(self.stages)!r})"


def parse_one(text: str) -> Reranker:
    """One ``NAME[:WEIGHT[:KEY=VALUE...]]`` spec, checked by :mod:`explorec.spec`."""
    what = f"re-ranker {text.strip()!r}"
    parsed = parse_spec(text, what=what, lower=True)
    if parsed.name not in RERANKERS:
        raise ConfigError(f"unknown re-ranker {parsed.name!r} in {text!r}; known: {', '.join(RERANKERS)}")
    klass, weight_param = RERANKERS[parsed.name]
    params: dict[str, Any] = {key: parse_value(raw) for key, raw in parsed.options.items()}
    if parsed.value is not None:
        if weight_param in params:
            raise ConfigError(f"{what}: {weight_param!r} is given twice (as the weight and as an option)")
        params[weight_param] = parse_value(parsed.value)
    return build(klass, params, what=what)


def parse_rerank_spec(spec: str | Sequence[str]) -> RerankChain:
    """Parse ``"mmr:0.3"`` or ``"pop-debias:0.5,dpp:0.3"`` (or a list of such strings).

    Returns
    -------
    RerankChain
        A ``Reranker`` that is also the sequence of its stages (so it can be passed wherever a list of
        re-rankers is expected).

    Examples
    --------
    >>> parse_rerank_spec("mmr:0.3")
    RerankChain([MMR(diversity=0.3)])
    >>> [type(r).__name__ for r in parse_rerank_spec("pop-debias:0.5,dpp:0.2:window=4")]
    ['PopularityDebias', 'DPP']
    """
    texts = [spec] if isinstance(spec, str) else list(spec)
    pieces = [p for t in texts for p in t.split(",")]
    if not pieces or any(not p.strip() for p in pieces):
        raise ConfigError(
            f"re-rank spec {spec!r}: empty entry; expected e.g. 'mmr:0.3' or 'dpp:0.5,fair:0.3'"
        )
    return RerankChain([parse_one(p) for p in pieces])
