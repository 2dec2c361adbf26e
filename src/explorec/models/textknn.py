"""Zero-shot text recommender: a user is the recency-weighted mean of their items' text vectors.

Nothing is learned from interactions. Every item, seen in training or not, has a vector from its text
(``explorec.encoders.item_vectors``), so a brand-new item is recommendable the moment its text
arrives, and a user with a single interaction already gets a meaningful list.

Score of item ``i`` for user ``u`` with chronological history ``j_1 .. j_n``::

    q_u = normalise( sum_{t=1..n, n-t < max_history} decay^(n-t) * v_{j_t} )
    s(u, i) = q_u . v_i                    (cosine similarity; v are unit vectors)

(the content-based "profile" of Lops, de Gemmis & Semeraro, *Content-based Recommender Systems*,
2011, with exponential time decay as in Ding & Li, *Time weight collaborative filtering*, CIKM 2005).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from explorec.data.interactions import Catalog, Interactions
from explorec.encoders import item_vectors, l2_normalize
from explorec.errors import ConfigError, check_positive_int
from explorec.models.base import Recommender


def recency_weights(history: Interactions, *, decay: float, max_history: int) -> sp.csr_matrix:
    """Users x items matrix of recency weights ``decay^(steps from the user's latest event)``.

    Only each user's last ``max_history`` events count; repeated items add up.

    Returns
    -------
    scipy.sparse.csr_matrix, float32[n_users, n_items]
    """
    order = history.chronological_order()
    users = history.user[order]
    items = history.item[order]
    ends = np.searchsorted(users, users, side="right")
    from_end = ends - 1 - np.arange(users.size)  # 0 = the user's latest event
    keep = from_end < max_history
    weights = np.power(float(decay), from_end[keep]).astype(np.float32)
    matrix = sp.csr_matrix(
        (weights, (users[keep], items[keep])), shape=(history.n_users, history.n_items), dtype=np.float32
    )
    matrix.sum_duplicates()
    return matrix


class TextKNN(Recommender):
    """Zero-shot recommendations from item text (see the module docstring for the formula).

    Parameters
    ----------
    encoder : str
        Encoder spec (``explorec.encoders.make_encoder``): ``"default"`` = all-MiniLM-L6-v2,
        ``"hashing:<dim>"``, or a local model folder.
    template : str, optional
        Item text template: a dataset name, a template string, or None to pick from the catalogue.
    decay : float in (0, 1]
        Weight ratio between an event and the next more recent one (1 = plain mean).
    max_history : int
        Most recent events per user that form the profile.
    cache_dir : str, optional
        Embedding cache folder (default ``explorec.encoders.default_cache_dir()``).
    device : str, optional
        Encoder device (``"cpu"``, ``"cuda"``; None = CUDA when present).

    Attributes
    ----------
    item_vectors_ : float32[n_items, dim]
        Unit text vector of every item.

    Examples
    --------
    >>> from explorec.data.toy import known_answer_dataset
    >>> data = known_answer_dataset()
    >>> model = TextKNN(encoder="hashing:128").fit(data.interactions, data.catalog)
    >>> model.score([0]).shape
    (1, 30)
    """

    name = "textknn"
    scores_cold_items = True

    def __init__(
        self,
        *,
        encoder: str = "default",
        template: str | None = None,
        decay: float = 0.8,
        max_history: int = 50,
        cache_dir: str | None = None,
        device: str | None = None,
    ) -> None:
        self.encoder = encoder
        self.template = template
        self.decay = decay
        self.max_history = max_history
        self.cache_dir = cache_dir
        self.device = device

    @classmethod
    def contract_params(cls) -> dict[str, Any]:
        return {"encoder": "hashing:128"}

    def _fit(self, train: Interactions, catalog: Catalog | None) -> None:
        if catalog is None:
            raise ConfigError(f"{type(self).__name__}.fit needs the catalog: it recommends from item text")
        if not 0 < self.decay <= 1:
            raise ConfigError(f"decay must lie in (0, 1], got {self.decay!r}")
        check_positive_int("max_history", self.max_history)
        from explorec.encoders import make_encoder

        encoder = make_encoder(self.encoder, device=self.device)
        self.item_vectors_ = item_vectors(
            catalog, encoder=encoder, template=self.template, cache_dir=self.cache_dir
        )
        self._weights_cache: tuple[weakref.ReferenceType[Interactions], sp.csr_matrix] | None = None

    def user_vectors(self, users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.float32]:
        """Unit profile vectors ``float32[B, dim]`` of ``users`` from ``history`` (zero when empty)."""
        cached = getattr(self, "_weights_cache", None)
        if cached is not None and cached[0]() is history:
            weights = cached[1]
        else:
            weights = recency_weights(history, decay=self.decay, max_history=self.max_history)
            self._weights_cache = (weakref.ref(history), weights)
        return l2_normalize(weights[users] @ self.item_vectors_)

    def _score(self, users: npt.NDArray[np.int64], history: Interactions) -> npt.NDArray[np.float32]:
        return (self.user_vectors(users, history) @ self.item_vectors_.T).astype(np.float32)


__all__ = ["TextKNN", "recency_weights"]
