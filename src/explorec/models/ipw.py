"""Training-time popularity-bias correction: EASE on inverse-propensity-weighted interactions.

Logged implicit feedback is missing not at random: an item is clicked only if it was *exposed*, and
exposure follows popularity. Inverse propensity weighting (Schnabel et al., "Recommendations as
Treatments", ICML 2016; Saito et al., "Unbiased Recommender Learning from Missing-Not-At-Random
Implicit Feedback", WSDM 2020) reweights each observed interaction ``(u, i)`` by ``1 / p_i``, with
the exposure propensity modelled from popularity (Yang et al., RecSys 2018, ``p_i ~ n_i^eta``):

    p_i = clip( (n_i / max_j n_j) ** eta,  min_propensity, 1 ),     w_i = c / p_i

where ``n_i`` is the item's training count and ``c`` makes the mean weight over the training
interactions equal to 1 (so ``l2`` keeps the scale it has for plain EASE). With ``D = diag(w)`` and
the binary matrix ``X``, EASE is fitted to the IPS-weighted data ``X~ = X D``:

    min_B ||X D - X D B||_F^2 + l2 ||B||_F^2,  diag(B) = 0
    =>  P = (D X^T X D + l2 I)^-1,   B_ij = -P_ij / P_jj,   scores = x_u D B        (Steck 2019, eq. 8)

Two things change against EASE: the co-occurrences that learn ``B`` are reweighted (a tail-tail
co-occurrence counts ``w_i w_j`` times; ``D G D``), and the regression target is the unbiased
``Y / p`` of Saito et al. A note on a tempting shortcut: weighting only the *target* columns
(``min ||X D - X B||``) gives exactly ``B_EASE D``, i.e. dividing the plain EASE scores by the
propensity at inference, the same thing as :class:`explorec.rerank.debias.PopularityDebias` with the
``"logit"`` transform up to the log; the input reweighting is what makes this a training-time method.
``eta = 0`` is plain EASE.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.data.interactions import Catalog, Interactions
from explorec.errors import ConfigError
from explorec.models.base import Recommender
from explorec.models.ease import check_fit_memory, closed_form_weights

logger = logging.getLogger(__name__)


def ipw_weights(counts: npt.ArrayLike, *, eta: float, min_propensity: float) -> npt.NDArray[np.float64]:
    """Per-item inverse-propensity weights ``w_i`` (module docstring), ``float64[n_items]``.

    Items without interactions get the largest weight ``c / min_propensity``; it never matters for
    training (their columns of ``X`` are empty) but keeps the weights finite.

    Examples
    --------
    >>> [round(float(w), 4) for w in ipw_weights([4, 1, 0], eta=1.0, min_propensity=0.1)]
    [0.625, 2.5, 6.25]
    """
    n = np.asarray(counts, dtype=np.float64).reshape(-1)
    if n.size == 0 or n.max() <= 0:
        return np.ones(n.size)
    propensity = np.clip((n / n.max()) ** float(eta), float(min_propensity), 1.0)
    w = 1.0 / propensity
    return np.asarray(w * n.sum() / (n * w).sum(), dtype=np.float64)


class EASEIPW(Recommender):
    """EASE fitted on inverse-propensity-weighted interactions (popularity-bias correction).

    Parameters
    ----------
    l2 : float
        EASE's L2 regularisation (> 0), on the weight-normalised Gram matrix.
    eta : float in [0, 2]
        Propensity exponent, ``p_i ~ n_i^eta``; 0 is plain EASE, larger values correct more.
    min_propensity : float in (0, 1]
        Clipping of the propensities (caps the weights at ``1 / min_propensity`` before normalising,
        the usual variance control of clipped IPS).

    Attributes
    ----------
    weights_ : float32[n_items, n_items]
        ``B`` (zero diagonal).
    item_weights_ : float32[n_items]
        ``w_i``; ``scores = (H * w) @ B`` for binary history rows ``H``.

    Examples
    --------
    >>> from explorec.data import Interactions
    >>> data = Interactions.from_ids(["a", "a", "b", "b", "c"], ["x", "y", "x", "y", "x"])
    >>> scores = EASEIPW(l2=1.0, eta=0.5).fit(data).score([2])
    >>> bool(scores[0, 1] > scores[0, 0])
    True
    """

    name = "ease-ipw"
    uses_history = True

    def __init__(self, *, l2: float = 500.0, eta: float = 0.5, min_propensity: float = 0.05) -> None:
        self.l2 = l2
        self.eta = eta
        self.min_propensity = min_propensity

    @classmethod
    def contract_params(cls) -> dict[str, Any]:
        return {"l2": 10.0, "eta": 0.5}

    def _check_params(self) -> None:
        if not float(self.l2) > 0.0:
            raise ConfigError(f"l2 must be > 0, got {self.l2!r}")
        if not 0.0 <= float(self.eta) <= 2.0:
            raise ConfigError(f"eta must lie in [0, 2], got {self.eta!r}")
        if not 0.0 < float(self.min_propensity) <= 1.0:
            raise ConfigError(f"min_propensity must lie in (0, 1], got {self.min_propensity!r}")

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        self._check_params()
        check_fit_memory(train.n_items, what="EASE-IPW")  # before the dense [I, I] gram exists
        x = train.to_csr(binary=True)  # [U, I]
        counts = np.asarray(x.sum(axis=0), dtype=np.float64).reshape(-1)  # users per item
        w = ipw_weights(counts, eta=float(self.eta), min_propensity=float(self.min_propensity))  # [I]
        gram = np.asarray((x.T @ x).todense(), dtype=np.float64)  # [I, I]
        gram *= w[:, None]
        gram *= w[None, :]  # D G D
        self.weights_ = closed_form_weights(gram, float(self.l2))
        self.item_weights_ = w.astype(np.float32)
        logger.info(
            "ease-ipw: %d items, eta=%g, weights in [%.3g, %.3g]", w.size, float(self.eta), w.min(), w.max()
        )

    def _score(self, users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.float32]:
        rows = history.to_csr(binary=True)[users]  # [B, I]
        weighted = rows.multiply(self.item_weights_[None, :]).tocsr()  # x_u D
        return np.asarray(weighted @ self.weights_, dtype=np.float32)  # [B, I]
