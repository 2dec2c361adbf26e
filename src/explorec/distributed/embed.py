"""Embedding a catalogue with Ray Data: ``map_batches`` over the encoder with an actor pool.

Each actor holds one copy of the encoder (a sentence model is loaded once per actor, not once per batch)
and encodes batches of ``batch_size`` texts; with GPUs on the cluster every actor gets one
(``num_gpus=1``) and the sentence model runs there. Rows carry their position in the input, so the
vectors come back in input order whatever order the actors finish in; the result equals the
single-process ``Encoder.encode`` up to float rounding (a sentence model pads each batch to its own
longest text).
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from explorec.data.interactions import Catalog
from explorec.encoders import CachedEncoder, Encoder, SentenceEncoder, item_texts, make_encoder
from explorec.encoders.templates import Template
from explorec.errors import DataError, check_positive_int

logger = logging.getLogger(__name__)

#: rows per Ray Data block: several blocks per actor keep every actor busy and bound each block's memory
BLOCK_ROWS = 4096


class _EncodeBatch:
    """The actor class of the pool: one encoder, called on ``{"position", "text"}`` batches."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder

    def __call__(self, batch: dict[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        texts = [str(t) for t in batch["text"]]
        return {"position": batch["position"], "vector": self.encoder.encode(texts)}  # [b], [b, dim]


def actor_options(workers: int, use_gpu: bool) -> dict[str, int]:
    """The ``map_batches`` resources of the actor pool: ``workers`` actors, each one GPU or one CPU."""
    return {"concurrency": workers, "num_cpus": 0 if use_gpu else 1, "num_gpus": 1 if use_gpu else 0}


def _actor_copy(encoder: Encoder, use_gpu: bool) -> Encoder:
    """A copy to ship to the actors: a sentence model unloaded (each actor loads it on its device)."""
    if isinstance(encoder, SentenceEncoder):
        return SentenceEncoder(
            encoder.model,
            device="cuda" if use_gpu else "cpu",
            batch_size=encoder.batch_size,
            num_threads=encoder.num_threads,
            max_seq_length=encoder.max_seq_length,
        )
    return encoder


class RayEncoder:
    """An ``Encoder`` whose ``encode`` runs on a Ray cluster (Ray Data ``map_batches``, actor pool).

    It has the wrapped encoder's ``dim``, ``model_id`` and ``cacheable``, so ``CachedEncoder`` and
    ``explorec.encoders.item_vectors`` take it like any encoder (the cache is read and written by the
    caller's process; only the misses travel to the cluster).

    Parameters
    ----------
    encoder : str or Encoder
        An encoder spec (see ``explorec.encoders.make_encoder``) or an encoder object.
    workers : int
        Actors in the pool (``concurrency``); each takes one CPU, or one GPU when ``use_gpu``.
    batch_size : int
        Most texts per ``map_batches`` call (fewer when the input is short, so that every actor gets at
        least four batches); each actor's sentence model still uses its own ``batch_size`` per forward
        pass.
    address : str, optional
        Ray cluster to use (see ``explorec.distributed.connect``); None: a local one.
    use_gpu : bool, optional
        None: one GPU per actor when the cluster has GPUs.
    progress : bool
        Ray Data's progress bars.
    """

    def __init__(
        self,
        encoder: str | Encoder = "default",
        *,
        workers: int = 2,
        batch_size: int = 512,
        address: str | None = None,
        use_gpu: bool | None = None,
        progress: bool = False,
    ) -> None:
        self.encoder = make_encoder(encoder)
        self.workers = check_positive_int("workers", workers)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.address = address
        self.use_gpu = use_gpu
        self.progress = progress

    def __repr__(self) -> str:
        return f"RayEncoder({self.encoder!r}, workers={self.workers}, batch_size={self.batch_size})"

    @property
    def dim(self) -> int:
        return self.encoder.dim

    @property
    def model_id(self) -> str:
        return self.encoder.model_id

    @property
    def cacheable(self) -> bool:
        return self.encoder.cacheable

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> npt.NDArray[np.float32]:
        """Encode ``texts`` on the cluster -> ``float32[n, dim]`` unit rows, in input order."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import pyarrow as pa

        from explorec.distributed.cluster import check_workers, connect, resolve_use_gpu

        ray = connect(self.address)
        use_gpu = resolve_use_gpu(self.use_gpu)
        workers = check_workers(self.workers, use_gpu=use_gpu)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = bool(self.progress or progress)
        n = len(texts)
        n_blocks = max(workers * 2, math.ceil(n / BLOCK_ROWS))
        edges = np.linspace(0, n, n_blocks + 1).astype(np.int64)
        tables = [
            pa.table({"position": np.arange(lo, hi, dtype=np.int64), "text": pa.array(list(texts[lo:hi]))})
            for lo, hi in itertools.pairwise(edges.tolist())
            if hi > lo
        ]
        # at least 4 batches per actor, so that a short input does not go to the first actor alone
        batch_size = max(1, min(self.batch_size, math.ceil(n / (4 * workers))))
        dataset = ray.data.from_arrow(tables).map_batches(
            _EncodeBatch,
            fn_constructor_kwargs={"encoder": _actor_copy(self.encoder, use_gpu)},
            batch_size=batch_size,
            batch_format="numpy",
            **actor_options(workers, use_gpu),
        )
        logger.info("encoding %d texts on Ray with %d %s actors", n, workers, "GPU" if use_gpu else "CPU")
        out: npt.NDArray[np.float32] | None = None
        filled = np.zeros(n, dtype=np.bool_)
        for batch in dataset.iter_batches(batch_format="numpy", batch_size=None):
            position = np.asarray(batch["position"], dtype=np.int64)  # [b]
            vectors = np.asarray(batch["vector"], dtype=np.float32)  # [b, dim]
            if out is None:
                out = np.empty((n, vectors.shape[1]), dtype=np.float32)
            out[position] = vectors
            filled[position] = True
        if out is None or not filled.all():
            missing = int((~filled).sum())
            raise DataError(f"Ray encoding returned no vector for {missing} of {n} texts")
        return out


def item_vectors(
    catalog: Catalog,
    *,
    encoder: str | Encoder | None = None,
    template: str | Template | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int = 2,
    batch_size: int = 512,
    address: str | None = None,
    use_gpu: bool | None = None,
    progress: bool = False,
) -> npt.NDArray[np.float32]:
    """``explorec.encoders.item_vectors`` with the encoding on a Ray cluster.

    Parameters
    ----------
    catalog, encoder, template, cache_dir
        As in ``explorec.encoders.item_vectors``; the cache is read before and written after, in this
        process, so only texts it lacks are sent to the cluster.
    workers, batch_size, address, use_gpu, progress
        As in ``RayEncoder``.

    Returns
    -------
    float32[n_items, dim]
        Unit rows in internal item order (row ``i`` is ``catalog.item_ids[i]``).
    """
    remote = RayEncoder(
        make_encoder(encoder),
        workers=workers,
        batch_size=batch_size,
        address=address,
        use_gpu=use_gpu,
        progress=progress,
    )
    texts = item_texts(catalog, template)
    enc: Encoder = CachedEncoder(remote, cache_dir) if remote.cacheable else remote
    return enc.encode(texts)
