"""The ``Encoder`` protocol: text in, L2-normalised ``float32`` vectors out.

Every text encoder (a pretrained sentence model, the hashed n-gram encoder of the tests, a cached
wrapper around either) exposes the same three members, so models, the cache and the CLI never care
which one they hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt


@runtime_checkable
class Encoder(Protocol):
    """Turns texts into unit-length vectors.

    Attributes
    ----------
    dim : int
        Length of each vector.
    model_id : str
        Identifies the model *and its weights*: two encoders with the same ``model_id`` return the same
        vector for the same text, so the embedding cache keys vectors by ``(model_id, text)``.
    cacheable : bool
        False when encoding is cheaper than a cache look-up (the hashed n-gram encoder).
    """

    @property
    def dim(self) -> int: ...

    @property
    def model_id(self) -> str: ...

    @property
    def cacheable(self) -> bool: ...

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> npt.NDArray[np.float32]:
        """Encode ``texts``.

        Parameters
        ----------
        texts : sequence of str, length n
        progress : bool
            Show a progress bar (only on a terminal).

        Returns
        -------
        float32[n, dim]
            Rows of L2 norm 1 (an all-zero input vector stays zero).
        """
        ...


def l2_normalize(vectors: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Rows scaled to unit L2 norm; all-zero rows stay zero.

    >>> l2_normalize([[3.0, 4.0], [0.0, 0.0]]).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    x = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)


def deduplicate(texts: Sequence[str]) -> tuple[list[str], npt.NDArray[np.int64]]:
    """Unique texts in order of first appearance, and ``inverse`` with ``unique[inverse[i]] == texts[i]``.

    >>> deduplicate(["b", "a", "b"])
    (['b', 'a'], array([0, 1, 0]))
    """
    index: dict[str, int] = {}
    inverse = np.fromiter((index.setdefault(t, len(index)) for t in texts), dtype=np.int64, count=len(texts))
    return list(index), inverse
