"""EASE: a shallow linear item-item autoencoder with a closed-form solution.

Steck, "Embarrassingly Shallow Autoencoders for Sparse Data" (WWW 2019). The item-item weight matrix
``B`` minimises ``||X - X B||_F^2 + l2 ||B||_F^2`` subject to ``diag(B) = 0``; its solution is

    P = (X^T X + l2 I)^-1,    B_ij = -P_ij / P_jj  (i != j),    B_jj = 0        (Steck 2019, eq. 8)

and a user's scores are ``x_u B`` for the user's binary history row ``x_u``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.linalg

from explorec.data.interactions import Catalog, Interactions
from explorec.errors import ConfigError
from explorec.models.base import Recommender
from explorec.models.itemknn import history_rows

logger = logging.getLogger(__name__)

#: dense n_items x n_items float64 arrays alive at the peak of a fit: the Gram matrix (factored in
#: place), its float32 ``todense`` source, the identity solved in place, and the float32 ``B``
FIT_COPIES = 3
#: environment variables holding the soft (warn) and hard (refuse) memory limits, in GB
WARN_ENV, LIMIT_ENV = "EXPLOREC_MEMORY_WARN_GB", "EXPLOREC_MEMORY_LIMIT_GB"
DEFAULT_WARN_GB = 2.0


def fit_memory_bytes(n_items: int) -> int:
    """Estimated peak memory of fitting EASE: ``n_items^2 x 8 bytes x FIT_COPIES``.

    >>> round(fit_memory_bytes(17_632) / 1e9, 1)  # Last.fm HetRec's artists (8.4 GB measured)
    7.5
    """
    return int(n_items) ** 2 * 8 * FIT_COPIES


def check_fit_memory(n_items: int, *, what: str = "EASE") -> None:
    """Warn above ``$EXPLOREC_MEMORY_WARN_GB`` (default 2), refuse above ``$EXPLOREC_MEMORY_LIMIT_GB``
    (default: 90 % of the machine's physical memory) before allocating anything.

    Raises
    ------
    ConfigError
        When the estimate exceeds the hard limit, naming the estimate, the limit and how to raise it.
    """
    need = fit_memory_bytes(n_items)
    warn = _limit_gb(WARN_ENV, DEFAULT_WARN_GB) * 1e9
    hard = _limit_gb(LIMIT_ENV, 0.9 * _physical_memory() / 1e9) * 1e9
    if need > hard:
        raise ConfigError(
            f"{what} on {n_items} items needs about {need / 1e9:.1f} GB ({FIT_COPIES} dense "
            f"{n_items} x {n_items} float64 arrays), above the limit of {hard / 1e9:.1f} GB; set "
            f"{LIMIT_ENV} to raise it, or use itemknn / prune the catalogue (--k-core)"
        )
    if need > warn:
        logger.warning(
            "%s on %d items needs about %.1f GB of memory (%d dense %d x %d float64 arrays) and time "
            "cubic in the items; consider itemknn or pruning the catalogue (limit: %s)",
            what,
            n_items,
            need / 1e9,
            FIT_COPIES,
            n_items,
            n_items,
            LIMIT_ENV,
        )


def _limit_gb(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise ConfigError(f"${name} must be a positive number of GB, got {raw!r}")
    return value


def _physical_memory() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX: no hard limit by default
        return float("inf")


class EASE(Recommender):
    """Closed-form item-item regression (Steck 2019), scored by fold-in of the user's history.

    The Gram matrix is inverted in float64 (it is symmetric positive definite, so a Cholesky-based
    inverse is used) and ``B`` is stored as float32. Memory is ``O(n_items^2)``: about
    ``FIT_COPIES * 8 * n_items^2`` bytes while fitting (:func:`fit_memory_bytes`), checked before
    anything is allocated: a warning above ``$EXPLOREC_MEMORY_WARN_GB`` (2 GB), a ``ConfigError``
    above ``$EXPLOREC_MEMORY_LIMIT_GB`` (90 % of physical memory).

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
        check_fit_memory(n_items)
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
