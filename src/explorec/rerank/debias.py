"""Inference-time popularity deconfounding with an adjustable strength.

A model trained on logged feedback learns ``P(click) ~ relevance x exposure``, and exposure follows
popularity; left alone, the feedback loop narrows recommendations to the head. At inference the
popularity term can be divided out (Zhang et al., "Causal Intervention for Leveraging Popularity
Bias in Recommendation", SIGIR 2021, PDA: rank by ``f(u, i)`` without the ``pop_i^gamma`` factor;
Menon et al., "Long-tail learning via logit adjustment", ICLR 2021: ``logit - tau * log prior``).
Two documented transforms of the candidate scores ``s_i`` with popularity ``n_i`` (training counts):

* ``"logit"``: ``s'_i = s_i - strength * log(1 + n_i)``, for models whose scores are log-odds
  (the multiplicative deconfounding ``exp(s) / (1 + n)^strength`` in log space);
* ``"zscore"`` (default, model-agnostic): ``s'_i = z(s)_i - strength * z(log(1 + n))_i`` with ``z``
  the standardisation over the candidate list, so that ``strength = 1`` weighs one standard
  deviation of relevance against one of log-popularity whatever the model's score scale.

``strength = 0`` leaves the order unchanged. The adjusted scores go into the frame's
``rerank_score`` column (the model's own scores stay as they are), so a later re-ranker (MMR, DPP)
uses the debiased relevance while the slate still records each item's model score.
"""

from __future__ import annotations

import numpy as np

from explorec.errors import check_choice
from explorec.rerank.base import F64, I64, RerankContext, Reranker, check_weight
from explorec.types import CandidateFrame

METHODS = ("zscore", "logit")


def _z(values: F64) -> F64:
    std = float(values.std())
    return (values - values.mean()) / std if std > 0 else np.zeros_like(values)


class PopularityDebias(Reranker):
    """Popularity deconfounding of the candidate scores.

    Parameters
    ----------
    strength : float >= 0
        ``gamma``: how much log-popularity is subtracted (see the module docstring); 0 = unchanged.
    method : {"zscore", "logit"}
        Score transform.

    Notes
    -----
    Reads the frame column ``popularity``, built from ``context.item_popularity`` (e.g.
    ``RerankContext.from_data(train)``); without it ``rerank`` raises ``ConfigError``.

    Examples
    --------
    >>> import numpy as np
    >>> from explorec.types import CandidateFrame
    >>> ctx = RerankContext(item_popularity=np.array([100.0, 1.0]))
    >>> cands = CandidateFrame(np.array([0, 1]), np.array([1.0, 0.9], dtype=np.float32))
    >>> PopularityDebias(strength=0.5, method="logit").rerank(cands, 2, context=ctx).items.tolist()
    [1, 0]
    """

    name = "pop-debias"
    rescoring = True
    requires = ("popularity",)

    def __init__(self, *, strength: float = 0.5, method: str = "zscore") -> None:
        self.strength = check_weight("pop-debias strength", strength, 0.0, np.inf)
        check_choice("pop-debias method", method, METHODS)
        self.method = method

    def adjust(self, items: I64, scores: F64, popularity: F64) -> F64:
        """Adjusted scores of ``items`` (any order), ``float64[n]``."""
        log_pop = np.log1p(popularity[items])
        if self.method == "logit":
            return np.asarray(scores - self.strength * log_pop, dtype=np.float64)
        return _z(scores) - self.strength * _z(log_pop)

    def _select(
        self,
        frame: CandidateFrame,
        scores: F64,
        k: int,
        context: RerankContext | None,
    ) -> tuple[I64, F64 | None]:
        rows = np.arange(len(frame), dtype=np.int64)
        adjusted = self.adjust(rows, scores, np.asarray(frame.column("popularity"), dtype=np.float64))
        order = np.argsort(-adjusted, kind="stable")[:k]  # ties keep the score order
        return order.astype(np.int64), adjusted[order]
