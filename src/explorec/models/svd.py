"""PureSVD with fold-in: a truncated SVD of the binary user-item matrix, scored by projection.

Cremonesi, Koren & Turrin, "Performance of recommender algorithms on top-N recommendation tasks"
(RecSys 2010): with ``V`` the top ``rank`` right singular vectors of the training matrix ``X``, a
user's scores are ``x_u V V^T`` for the user's binary history row ``x_u``. Because the user side is a
projection of the history, a new click counts at the next ``score`` call without refitting (fold-in),
and a refit is one truncated SVD, which makes the model the simulator's fast default.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from explorec.data.interactions import Catalog, Interactions
from explorec.errors import DataError, check_positive_int
from explorec.models.base import Recommender

FloatArray = npt.NDArray[np.float64]

#: up to this many columns the exact eigendecomposition of the Gram matrix is used
_EXACT_COLUMNS = 4000


def truncated_svd(matrix: sp.spmatrix, rank: int, seed: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Truncated SVD ``U S V^T`` of a users x items matrix, largest values first.

    With at most 4000 columns the exact eigendecomposition of the Gram matrix ``X^T X`` gives ``V`` and
    ``S`` (``U = X V / S``); larger catalogues use randomized range finding (Halko, Martinsson & Tropp
    2011; scikit-learn's ``randomized_svd``, seeded). ``rank`` is clipped to ``min(shape) - 1``.

    Returns
    -------
    (u float64[n_rows, r], s float64[r], v float64[n_cols, r])
    """
    r = min(rank, min(matrix.shape) - 1)
    if r < 1:
        raise DataError(f"matrix of shape {matrix.shape} is too small for a truncated SVD")
    x = sp.csr_matrix(matrix, dtype=np.float64)
    if x.shape[1] <= _EXACT_COLUMNS:
        gram = np.asarray((x.T @ x).toarray())  # [n_items, n_items]
        values, vectors = np.linalg.eigh(gram)
        order = np.argsort(-values)[:r]
        s = np.sqrt(np.maximum(values[order], 0.0))
        v = vectors[:, order]
        # fix each vector's sign so results do not depend on the LAPACK build
        v = v * np.where(v[np.abs(v).argmax(axis=0), np.arange(r)] < 0, -1.0, 1.0)
        u = np.asarray(x @ v) / np.where(s > 0, s, 1.0)
        return u, s, v
    from sklearn.utils.extmath import randomized_svd

    u, s, vt = randomized_svd(x, r, n_iter=4, random_state=seed)
    return u, s, vt.T


class FoldInSVD(Recommender):
    """PureSVD with fold-in (Cremonesi, Koren & Turrin, RecSys 2010): ``scores = H V V^T``.

    ``V`` holds the top ``rank`` right singular vectors of the binary training matrix; a user's
    history row ``H_u`` is projected onto them, so new clicks count at the next ``score`` call with an
    updated ``history``. Items without training interactions score 0.

    Parameters
    ----------
    rank : int
        Number of singular vectors (clipped to ``min(n_users, n_items) - 1``).
    seed : int
        Seeds the randomized SVD used for catalogues of more than 4000 items.

    Attributes
    ----------
    item_factors_ : float32[n_items, r]
        ``V``.
    """

    name = "foldin-svd"
    uses_history = True

    def __init__(self, *, rank: int = 64, seed: int = 0) -> None:
        self.rank = rank
        self.seed = seed

    @classmethod
    def contract_params(cls) -> dict[str, Any]:
        return {"rank": 8}

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        check_positive_int("rank", self.rank)
        _, _, v = truncated_svd(train.to_csr(), self.rank, self.seed)
        self.item_factors_ = v.astype(np.float32)  # [n_items, r]

    def _score(self, users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.float32]:
        h = history.to_csr()[users]  # [B, n_items]
        return np.asarray((h @ self.item_factors_) @ self.item_factors_.T, dtype=np.float32)  # [B, n_items]
