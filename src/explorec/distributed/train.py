"""Training the torch models with Ray Train: ``TorchTrainer`` and DDP over several workers.

``fit(model, train, catalog, workers=N)`` runs ``model.fit`` as usual (data-derived state, the module
built and initialised under the model's seed, in this process), but hands the training loop to Ray:

1. the model, its batch source and the validation data are put in the object store once;
2. each of the ``N`` workers wraps a module whose ``forward`` is the model's own loss in
   ``DistributedDataParallel`` (``ray.train.torch.prepare_model``), so every loss term, including those
   that read the network outside its ``forward`` (the two-tower item table), is reduced across workers;
3. every worker draws the same seeded batch list per epoch and takes its rows ``rank::N`` of every batch
   (the entries the model names in ``batch_rows``; SASRec and the two-tower model do), so one step
   of ``N`` workers sees the examples of one single-process step; a model without ``batch_rows``
   has each worker take every ``N``-th whole batch; a ``torch.utils.data.Dataset`` source is sharded
   by ``ray.train.torch.prepare_data_loader``;
4. ``explorec.models.training.Trainer`` runs on each worker unchanged (AdamW, clipping, early stopping):
   rank 0 computes the validation NDCG@10 and broadcasts it, so all workers stop at the same epoch;
5. rank 0 reports its ``state_dict`` and history as a Ray Train checkpoint; the caller's model loads it.

The fitted model is the same explorec object: it saves, loads and recommends like a single-process one.
With rows split, ``batch_size`` stays the global batch and an epoch has as many steps as in one
process; the step's gradient is the mean of the workers' mean losses, which equals the single-process
gradient when the loss is a mean over examples split evenly (the two-tower loss; SASRec averages over
real positions, so shares with unequal padding weigh slightly differently).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from explorec.data.interactions import Catalog, Interactions
from explorec.errors import ConfigError
from explorec.models.torch_base import SequenceCache, TorchRecommender, load_state_checked
from explorec.models.training import BatchFn, TrainHistory, TrainingError

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=TorchRecommender)

WEIGHTS = "module.pt"
HISTORY = "history.json"
#: largest checksum difference between DDP replicas taken as equal (all-reduce gives every rank the same mean)
REPLICA_TOLERANCE = 1e-6


class _LossModule(nn.Module):
    """``forward(batch)`` is the recommender's loss on ``net``, so DDP sees every use of the weights."""

    def __init__(self, recommender: TorchRecommender, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.recommender = recommender

    def forward(self, batch: Any) -> Any:
        return self.recommender._loss(self.net, batch)


def _call(module: nn.Module, batch: Any) -> Any:
    return module(batch)


def _rows(batch: Any, keys: tuple[str, ...], rank: int, world: int) -> Any:
    """Rank ``rank``'s rows ``rank::world`` of the per-example entries of a dict batch."""
    if not isinstance(batch, dict):
        raise ConfigError(f"batch_rows needs dict batches, got {type(batch).__name__}")
    present = [key for key in keys if key in batch]
    n = int(batch[present[0]].shape[0]) if present else 0
    if n < world:  # a batch too small to split (the last one): every rank uses it whole
        return batch
    return {key: value[rank::world] if key in present else value for key, value in batch.items()}


def _shard(batches: BatchFn, rows: tuple[str, ...] | None, rank: int, world: int) -> BatchFn:
    """This rank's part of each epoch's batches (every worker draws the same seeded list).

    With ``rows`` (the model's ``batch_rows``), every batch is split by rows, so one optimiser step
    sees the same examples as one step of a single process. Without, the rank takes every
    ``world``-th whole batch, the list padded by wrapping around (as ``DistributedSampler`` pads) so
    that all ranks step equally often.
    """

    def source(epoch: int, rng: np.random.Generator) -> Iterable[Any]:
        every = list(batches(epoch, rng))
        if rows is not None:
            return [_rows(batch, rows, rank, world) for batch in every]
        if not every:
            return []
        per_rank = math.ceil(len(every) / world)
        return [every[i % len(every)] for i in range(rank, per_rank * world, world)]

    return source


def _dataset_source(
    dataset: torch.utils.data.Dataset[Any], batch_size: int, seed: int, world: int
) -> BatchFn:
    """A ``DataLoader`` over ``dataset`` sharded by ``prepare_data_loader`` (a ``DistributedSampler``)."""
    import ray.train.torch

    generator = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)
    loader = ray.train.torch.prepare_data_loader(loader, move_to_device=False)

    def source(epoch: int, rng: np.random.Generator) -> Iterable[Any]:
        sampler = getattr(loader, "sampler", None)
        if world > 1 and isinstance(sampler, torch.utils.data.DistributedSampler):
            sampler.set_epoch(epoch)
        return loader

    return source


def _worker_loop(config: dict[str, Any]) -> None:
    """The Ray Train worker: DDP training of the shipped model, rank 0 reports the weights."""
    import ray
    import ray.train
    import ray.train.torch

    model, batches, valid, valid_history = ray.get(config["payload"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    model.device_ = device
    net = model.module_.to(device)
    model.module_ = net
    wrapped = ray.train.torch.prepare_model(
        _LossModule(model, net),
        # frozen buffers (LM item vectors) need no re-broadcast before every forward
        parallel_strategy_kwargs={"forward_sync_buffers": False},
    )
    trainer = model._trainer()
    if isinstance(batches, torch.utils.data.Dataset):
        source = _dataset_source(batches, trainer.batch_size, trainer.seed, world)
    else:
        source = _shard(batches, type(model).batch_rows, rank, world)

    def validate() -> float:
        value = torch.zeros(1, dtype=torch.float64, device=device)
        if rank == 0:
            value[0] = model.validation_metric(valid, valid_history)
        if world > 1:
            torch.distributed.broadcast(value, src=0)
        return float(value.item())

    history = trainer.fit(wrapped, source, _call, validate if valid is not None and len(valid) else None)
    metrics = {
        "epochs": len(history.epochs),
        "best_epoch": history.best_epoch,
        "replica_spread": _replica_spread(net, world, device),
    }
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = None
        if rank == 0:
            state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
            torch.save(state, Path(tmp) / WEIGHTS)
            (Path(tmp) / HISTORY).write_text(json.dumps(history.to_dict()))
            checkpoint = ray.train.Checkpoint.from_directory(tmp)
        ray.train.report(metrics, checkpoint=checkpoint)


def _replica_spread(net: nn.Module, world: int, device: torch.device) -> float:
    """Largest difference between the ranks' weight checksums (0 when DDP kept the replicas equal)."""
    with torch.no_grad():
        params = [p.detach().double() for p in net.parameters()]
        total = torch.stack([p.sum() for p in params]).sum()
        squares = torch.stack([(p * p).sum() for p in params]).sum()
        checksum = torch.stack([total, squares])  # [2]
    checksum = checksum.to(device)
    if world == 1:
        return 0.0
    gathered = [torch.zeros_like(checksum) for _ in range(world)]
    torch.distributed.all_gather(gathered, checksum)
    stacked = torch.stack(gathered)  # [world, 2]
    return float((stacked.max(0).values - stacked.min(0).values).max())


def _shippable(model: TorchRecommender) -> TorchRecommender:
    """A shallow copy without the runner and with empty sequence caches (they hold weak references)."""
    clone = copy.copy(model)
    clone.__dict__.pop("_train_runner", None)
    for key, value in list(vars(clone).items()):
        if isinstance(value, SequenceCache):
            setattr(clone, key, SequenceCache())
    return clone


class RayTrainRunner:
    """The ``TrainRunner`` that ``fit`` sets on a model: trains its module with Ray Train.

    Parameters
    ----------
    workers : int
        Ray Train workers (DDP ranks).
    use_gpu : bool
        One GPU per worker.
    storage_path : str, optional
        Where Ray Train writes the checkpoint (a path every node can reach on a multi-node cluster, e.g.
        shared storage or ``s3://...``); None: a temporary folder on this machine, removed afterwards.
    """

    def __init__(self, workers: int, use_gpu: bool, storage_path: str | None = None) -> None:
        self.workers = workers
        self.use_gpu = use_gpu
        self.storage_path = storage_path

    def __call__(
        self,
        model: TorchRecommender,
        batches: BatchFn | torch.utils.data.Dataset[Any],
        valid: Interactions | None,
        valid_history: Interactions,
    ) -> TrainHistory:
        import ray
        import ray.train
        from ray.train.torch import TorchTrainer

        payload = ray.put((_shippable(model), batches, valid, valid_history))
        with tempfile.TemporaryDirectory(prefix="explorec-ray-") as tmp:
            trainer = TorchTrainer(
                _worker_loop,
                train_loop_config={"payload": payload},
                scaling_config=ray.train.ScalingConfig(num_workers=self.workers, use_gpu=self.use_gpu),
                run_config=ray.train.RunConfig(
                    name=f"explorec-{model.name}-{uuid.uuid4().hex[:8]}",
                    storage_path=self.storage_path or tmp,
                ),
            )
            logger.info("training %s with Ray Train on %d workers", model.name, self.workers)
            try:
                result = trainer.fit()
            except Exception as exc:  # Ray wraps the worker's exception; keep its message
                raise TrainingError(f"Ray Train failed for {model.name}: {exc}") from exc
            if result.checkpoint is None:
                raise TrainingError(f"Ray Train finished without a checkpoint for {model.name}")
            spread = float((result.metrics or {}).get("replica_spread", 0.0))
            if spread > REPLICA_TOLERANCE:
                raise TrainingError(
                    f"Ray Train: the {self.workers} DDP replicas of {model.name} ended with different "
                    f"weights (checksum spread {spread:.3g} > {REPLICA_TOLERANCE:g}): gradients not in sync"
                )
            with result.checkpoint.as_directory() as folder:
                state = torch.load(Path(folder) / WEIGHTS, map_location="cpu", weights_only=True)
                history = TrainHistory.from_dict(json.loads((Path(folder) / HISTORY).read_text()))
        load_state_checked(model.module_, state, "the Ray Train checkpoint")
        return history


def fit(
    model: M,
    train: Interactions,
    catalog: Catalog | None = None,
    *,
    valid: Interactions | None = None,
    valid_history: Interactions | None = None,
    workers: int = 2,
    address: str | None = None,
    use_gpu: bool | None = None,
    storage_path: str | None = None,
) -> M:
    """``model.fit(train, catalog, valid=..., valid_history=...)`` as DDP over Ray Train workers.

    Parameters
    ----------
    model : TorchRecommender
        SASRec, the two-tower model or any other torch model of explorec.
    train, catalog, valid, valid_history
        As in ``TorchRecommender.fit``.
    workers : int
        Ray Train workers (DDP ranks), one CPU (or one GPU) each.
    address : str, optional
        Ray cluster (see ``explorec.distributed.connect``); None: a local one.
    use_gpu : bool, optional
        None: GPU workers when the cluster has GPUs.
    storage_path : str, optional
        See ``RayTrainRunner``.

    Returns
    -------
    The same ``model``, fitted (rank 0's weights, in ``eval()`` mode on this process's device).
    """
    if not isinstance(model, TorchRecommender):
        raise ConfigError(
            f"the Ray backend trains the torch models (e.g. sasrec, two-tower); got {type(model).__name__}"
        )
    from explorec.distributed.cluster import check_workers, connect, resolve_use_gpu

    connect(address)
    gpu = resolve_use_gpu(use_gpu)
    runner = RayTrainRunner(check_workers(workers, use_gpu=gpu), gpu, storage_path)
    model._train_runner = runner  # type: ignore[attr-defined]
    try:
        model.fit(train, catalog, valid=valid, valid_history=valid_history)
    finally:
        del model._train_runner  # type: ignore[attr-defined]
    return model
