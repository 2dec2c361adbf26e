"""Run explorec's heavy steps on a Ray cluster: embedding (Ray Data) and neural training (Ray Train).

Install with ``pip install 'explorec[ray]'``. The single-process paths (``explorec.encoders.item_vectors``,
``model.fit``) stay the default; these functions are the same calls with a cluster behind them:

=============================================  =============================================================
``item_vectors(catalog, workers=2, ...)``       ``explorec.encoders.item_vectors`` with the encoder run by an
                                                actor pool of ``workers`` actors over Ray Data ``map_batches``
                                                (one GPU per actor when the cluster has GPUs)
``RayEncoder(encoder, workers=2)``              any ``Encoder`` whose ``encode`` runs on the cluster (so the
                                                embedding cache and every caller of an encoder work unchanged)
``fit(model, train, catalog, workers=2, ...)``  ``model.fit`` for the torch models (SASRec, two-tower, ...) as
                                                DDP over ``workers`` Ray Train workers (``TorchTrainer``); the
                                                fitted model is the same object, with rank 0's weights
=============================================  =============================================================

``address`` names an existing cluster (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``); None starts a
local one in this process (``ray.init()``) unless Ray is already initialised. ``ray`` is imported only when
one of these is called.

Examples
--------
>>> from explorec.distributed import RayEncoder
>>> RayEncoder("hashing:32", workers=2).dim
32
"""

from __future__ import annotations

from explorec.distributed.cluster import connect, require_ray
from explorec.distributed.embed import RayEncoder, item_vectors
from explorec.distributed.train import fit

BACKENDS = ("local", "ray")

__all__ = ["BACKENDS", "RayEncoder", "connect", "fit", "item_vectors", "require_ray"]
