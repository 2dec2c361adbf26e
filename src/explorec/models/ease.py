"""EASE: a shallow linear item-item autoencoder with a closed-form solution.

Steck, "Embarrassingly Shallow Autoencoders for Sparse Data" (WWW 2019). The item-item weight matrix
``B`` minimises ``||X - X B||_F^2 + l2 ||B||_F^2`` subject to ``diag(B) = 0``; its solution is

    P = (X^T X + l2 I)^-1,    B_ij = -P_ij / P_jj  (i != j),    B_jj = 0        (Steck 2019, eq. 8)

and a user's scores are ``x_u B`` for the user's binary history row ``x_u``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.linalg

from explorec.data.interactions import Catalog, Interactions
from explorec.errors import ConfigError
from explorec.models.base import Recommender
from explorec.models.itemknn import history_rows

logger = logging.getLogger(__name__)

#: above this many items the dense float64 Gram matrix alone needs > 7 GB
LARGE_CATALOG = 30_000


class EASE(Recommender):
    """Closed-form item-item regression (Steck 2019), scored by fold-in of the user's history.

    The Gram matrix is inverted in float64 (it is symmetric positive definite, so a Cholesky-based
    inverse is used) and ``B`` is stored as float32. Memory is ``O(n_items^2)``: about
    ``16 * n_items^2`` bytes while fitting; a warning is logged above 30,000 items.

    Parameters
    ----------
    l2 : float
        L2 regularisation ``lambda`` added to the diagonal of ``X^T X`` (> 0).

    Attributes
    ----------
    weights_ : float32[n_items, n_items]
        ``B`` with a zero diagonal; ``scores = H @ B`` for binary history rows ``H``.

    Examples
    --------
    >>> from explorec.data import Interactions
    >>> data = Interactions.from_ids(["a", "a", "b", "b", "c"], ["x", "y", "x", "y", "x"])
    >>> scores = EASE(l2=1.0).fit(data).score([2])
    >>> bool(scores[0, 1] > scores[0, 0])  # c saw x, which co-occurs with y
    True
    """

    name = "ease"
    uses_history = True

    def __init__(self, *, l2: float = 500.0) -> None:
        self.l2 = l2

    @classmethod
    def contract_params(cls) -> dict[str, Any]:
        return {"l2": 10.0}

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        if not float(self.l2) > 0.0:
            raise ConfigError(f"l2 must be > 0, got {self.l2!r}")
        self._history_cache = None
        n_items = train.n_items
        if n_items > LARGE_CATALOG:
            logger.warning(
                "EASE on %d items needs about %.1f GB of memory (dense float64 %d x %d); "
                "consider ItemKNN or pruning the catalogue",
                n_items,
                16 * n_items**2 / 1e9,
                n_items,
                n_items,
            )
        x = train.to_csr(binary=True)  # [U, I]
        gram = np.asarray((x.T @ x).todense(), dtype=np.float64)  # [I, I]
        self.weights_ = closed_form_weights(gram, float(self.l2))
        logger.info("ease: %d items, l2=%g", n_items, float(self.l2))

    def _score(self, users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.float32]:
        rows = history_rows(self, history, users)  # [B, I] sparse
        return np.asarray(rows @ self.weights_, dtype=np.float32)  # [B, I]

    def _set_state(self, state: dict[str, np.ndarray]) -> None:
        super()._set_state(state)
        self._history_cache = None


def closed_form_weights(gram: npt.NDArray[np.float64], l2: float) -> npt.NDArray[np.float32]:
    """EASE's ``B`` from a Gram matrix (Steck 2019, eq. 8); ``gram`` is overwritten.

    ``P = (G + l2 I)^-1`` by Cholesky (``G + l2 I`` is symmetric positive definite for ``l2 > 0``), then
    ``B_ij = -P_ij / P_jj`` with a zero diagonal, computed in place to spare ``I x I`` copies.
    ``EASE`` passes ``X^T X``, ``EASEIPW`` the reweighted ``D X^T X D``.

    Returns
    -------
    float32[I, I]
    """
    gram[np.diag_indices_from(gram)] += l2
    factor, lower = scipy.linalg.cho_factor(gram, lower=False, overwrite_a=True, check_finite=False)
    identity = np.eye(gram.shape[0], dtype=np.float64)
    inverse = scipy.linalg.cho_solve((factor, lower), identity, overwrite_b=True, check_finite=False)  # P
    inverse /= -np.diag(inverse)[None, :]  # B_ij = -P_ij / P_jj
    inverse[np.diag_indices_from(inverse)] = 0.0
    return inverse.astype(np.float32)
