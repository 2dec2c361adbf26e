"""A generic torch training loop that knows nothing about the model it trains.

The ``Trainer`` receives three things from the caller:

* a ``module`` (any ``torch.nn.Module``; dropout and the architecture are the module's business),
* a source of batches: either a callable ``batches(epoch, rng) -> Iterable[batch]`` (``rng`` is the
  trainer's own ``numpy.random.Generator``, so shuffling is reproducible) or a
  ``torch.utils.data.Dataset`` that the trainer batches with its own seeded ``torch.Generator``,
* a ``loss_fn(module, batch) -> Tensor`` returning a scalar, or a mapping ``{"loss": total, "part": ...}``
  whose extra entries are logged per epoch (e.g. the contrastive or adversarial terms),

and optionally a ``validate() -> float`` callable (higher is better; by default the recommender
wrappers pass full-ranking NDCG@10 from ``explorec.evaluation.evaluate``).

It provides AdamW with decoupled weight decay (Loshchilov & Hutter, 2019) applied to matrices only
(not to biases and norm gains), gradient-norm clipping, early stopping on the validation metric with
``patience``, restore of the best checkpoint, a tqdm bar with the live loss and metric, a thread-count
setting, and determinism: all randomness comes from ``seed`` (a numpy ``Generator`` for the batch
order, and torch's generator forked with ``torch.random.fork_rng`` for dropout and sampling, so the
caller's global RNG state is left untouched).

Examples
--------
>>> import torch
>>> x = torch.linspace(-1, 1, 64).unsqueeze(1)
>>> y = 3 * x
>>> net = torch.nn.Linear(1, 1)
>>> def batches(epoch, rng):
...     order = torch.from_numpy(rng.permutation(64))
...     return [(x[order[i:i + 16]], y[order[i:i + 16]]) for i in range(0, 64, 16)]
>>> def loss_fn(module, batch):
...     return torch.nn.functional.mse_loss(module(batch[0]), batch[1])
>>> hist = Trainer(epochs=200, lr=0.05, progress=False).fit(net, batches, loss_fn)
>>> round(net.weight.item(), 1)
3.0
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from explorec import progress
from explorec.errors import ConfigError, ExploreCError, check_positive_int

logger = logging.getLogger(__name__)

#: a batch source: ``batches(epoch, rng)`` returning the epoch's batches
BatchFn = Callable[[int, np.random.Generator], Iterable[Any]]
#: ``loss_fn(module, batch)`` -> scalar loss, or ``{"loss": total, **logged_parts}``
LossFn = Callable[[nn.Module, Any], "torch.Tensor | Mapping[str, torch.Tensor]"]
#: ``optimizer_factory(param_groups, lr)`` -> optimizer (default AdamW)
OptimizerFactory = Callable[[list[dict[str, Any]], float], torch.optim.Optimizer]


class TrainingError(ExploreCError, RuntimeError):
    """Training failed (e.g. the loss became NaN or infinite)."""


@dataclass
class EpochRecord:
    """What happened in one epoch.

    Attributes
    ----------
    epoch : int
        1-based epoch number.
    loss : float
        Mean training loss over the epoch's batches.
    parts : dict[str, float]
        Means of the extra loss terms returned by ``loss_fn`` (e.g. ``{"cl": 0.7}``).
    metric : float or None
        Validation metric after the epoch (None when not validated this epoch).
    seconds : float
        Wall time of the training part of the epoch.
    cpu_seconds : float
        CPU time of this process (all threads) in the training part; steadier than wall time on a
        shared machine.
    valid_seconds : float
        Wall time of the validation.
    grad_norm : float
        Largest gradient norm seen before clipping.
    clipped_steps : int
        Number of steps whose gradient norm exceeded ``grad_clip``.
    steps : int
        Optimiser steps taken in the epoch.
    """

    epoch: int
    loss: float
    parts: dict[str, float] = field(default_factory=dict)
    metric: float | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    valid_seconds: float = 0.0
    grad_norm: float = 0.0
    clipped_steps: int = 0
    steps: int = 0


@dataclass
class TrainHistory:
    """Per-epoch records plus the outcome of early stopping.

    ``best_epoch`` is the epoch whose weights the module holds after ``Trainer.fit`` (the last epoch
    when no validation was given).
    """

    epochs: list[EpochRecord] = field(default_factory=list)
    metric_name: str = ""
    best_epoch: int = 0
    best_metric: float | None = None
    stopped_early: bool = False
    seconds: float = 0.0

    @property
    def losses(self) -> list[float]:
        return [e.loss for e in self.epochs]

    @property
    def metrics(self) -> list[float | None]:
        return [e.metric for e in self.epochs]

    @property
    def seconds_per_epoch(self) -> float:
        """Median training seconds per epoch (validation excluded)."""
        return float(np.median([e.seconds for e in self.epochs])) if self.epochs else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["seconds_per_epoch"] = self.seconds_per_epoch
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainHistory:
        epochs = [EpochRecord(**e) for e in data.get("epochs", [])]
        return cls(
            epochs=epochs,
            metric_name=str(data.get("metric_name", "")),
            best_epoch=int(data.get("best_epoch", 0)),
            best_metric=data.get("best_metric"),
            stopped_early=bool(data.get("stopped_early", False)),
            seconds=float(data.get("seconds", 0.0)),
        )


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:1"`` as given.

    Raises ``ConfigError`` for an unknown name or when CUDA is asked for but absent.
    """
    if isinstance(device, torch.device):
        return device
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device={name!r} but CUDA is not available here; use 'cpu' or 'auto'")
        return torch.device(name)
    raise ConfigError(f"device must be 'auto', 'cpu' or 'cuda[:n]', got {device!r}")


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | None = None) -> Iterator[None]:
    """Run a block with torch's generator seeded from ``seed``, restoring the caller's RNG state after.

    Dropout and ``torch.nn.init`` read torch's default generator; forking it keeps those reproducible
    without touching global state seen by anyone else.
    """
    devices = [device.index or 0] if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


@contextlib.contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """Use ``num_threads`` intra-op threads inside the block (unchanged when None)."""
    if num_threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(check_positive_int("num_threads", num_threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) tuple/list/dict batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple | list):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def param_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: matrices (and embeddings) decayed, vectors (biases, norm gains) not."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in module.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": float(weight_decay)}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def _adamw(groups: list[dict[str, Any]], lr: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=lr)


class Trainer:
    """Mini-batch training with early stopping on a validation metric.

    Parameters
    ----------
    epochs : int
        Maximum number of passes over the batches.
    lr : float
        Learning rate.
    weight_decay : float
        Decoupled (AdamW) weight decay on matrices and embeddings.
    grad_clip : float or None
        Clip the global gradient L2 norm to this value before each step; None disables.
    patience : int
        Stop after this many validations without improvement (> ``min_delta``).
    min_delta : float
        Smallest improvement of the validation metric that counts.
    validate_every : int
        Validate after every ``validate_every``-th epoch (and after the last one).
    batch_size : int
        Batch size when ``batches`` is a ``torch.utils.data.Dataset`` (ignored for callables).
    metric_name : str
        Label of the validation metric in logs and the history.
    seed : int
        Seeds the batch order (numpy ``Generator``) and torch's forked generator (dropout, sampling).
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda[:n]"``; batches are moved there with ``to_device``.
    num_threads : int or None
        torch intra-op threads during training (restored afterwards); None leaves torch's setting.
    progress : bool
        Show a tqdm bar with live loss and metric (only on a terminal).
    optimizer_factory : callable, optional
        ``(param_groups, lr) -> Optimizer``; AdamW when None.
    """

    def __init__(
        self,
        *,
        epochs: int = 50,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        grad_clip: float | None = 1.0,
        patience: int = 5,
        min_delta: float = 0.0,
        validate_every: int = 1,
        batch_size: int = 256,
        metric_name: str = "ndcg@10",
        seed: int = 0,
        device: str = "auto",
        num_threads: int | None = None,
        progress: bool = True,
        optimizer_factory: OptimizerFactory | None = None,
    ) -> None:
        self.epochs = check_positive_int("epochs", epochs)
        if not lr > 0:
            raise ConfigError(f"lr must be > 0, got {lr!r}")
        if weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {weight_decay!r}")
        if grad_clip is not None and not grad_clip > 0:
            raise ConfigError(f"grad_clip must be > 0 or None, got {grad_clip!r}")
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.grad_clip = grad_clip
        self.patience = check_positive_int("patience", patience)
        self.min_delta = float(min_delta)
        self.validate_every = check_positive_int("validate_every", validate_every)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.metric_name = metric_name
        self.seed = int(seed)
        self.device = resolve_device(device)
        self.num_threads = num_threads
        self.progress = progress
        self.optimizer_factory = optimizer_factory or _adamw

    # ------------------------------------------------------------------ public
    def fit(
        self,
        module: nn.Module,
        batches: BatchFn | torch.utils.data.Dataset[Any],
        loss_fn: LossFn,
        validate: Callable[[], float] | None = None,
    ) -> TrainHistory:
        """Train ``module`` in place and return the history.

        Parameters
        ----------
        module : nn.Module
            Moved to the trainer's device; in ``train()`` mode for the steps, ``eval()`` during
            ``validate`` and after training.
        batches : callable or Dataset
            ``batches(epoch, rng) -> Iterable[batch]``, or a map-style dataset batched by a shuffling
            ``DataLoader`` with the trainer's seeded generator.
        loss_fn : callable
            ``loss_fn(module, batch)`` -> scalar tensor or ``{"loss": tensor, ...}``.
        validate : callable, optional
            ``validate() -> float``, higher is better. When given, the best epoch's weights are restored
            at the end; when None, the final weights are kept.

        Returns
        -------
        TrainHistory
        """
        module.to(self.device)
        rng = np.random.default_rng(self.seed)
        optimizer = self.optimizer_factory(param_groups(module, self.weight_decay), self.lr)
        source = self._batch_source(batches)
        history = TrainHistory(metric_name=self.metric_name if validate else "")
        best_state: dict[str, torch.Tensor] | None = None
        bad_rounds = 0
        start = time.perf_counter()
        bar = progress.bar(range(1, self.epochs + 1), desc="train", unit="epoch", show=self.progress)
        with torch_threads(self.num_threads), seeded(self.seed, self.device):
            for epoch in bar:
                record = self._run_epoch(module, optimizer, source(epoch, rng), loss_fn, epoch)
                history.epochs.append(record)
                postfix: dict[str, Any] = {"loss": f"{record.loss:.4f}"}
                if validate is not None and (epoch % self.validate_every == 0 or epoch == self.epochs):
                    t0 = time.perf_counter()
                    module.eval()
                    with torch.no_grad():
                        value = float(validate())
                    record.valid_seconds = time.perf_counter() - t0
                    record.metric = value
                    postfix[self.metric_name] = f"{value:.4f}"
                    if history.best_metric is None or value > history.best_metric + self.min_delta:
                        history.best_metric, history.best_epoch, bad_rounds = value, epoch, 0
                        best_state = _clone_state(module)
                    else:
                        bad_rounds += 1
                    logger.info(
                        "epoch %d loss %.4f %s %.4f (best %.4f @ %d) %.1fs",
                        epoch,
                        record.loss,
                        self.metric_name,
                        value,
                        history.best_metric,
                        history.best_epoch,
                        record.seconds,
                    )
                else:
                    logger.info("epoch %d loss %.4f %.1fs", epoch, record.loss, record.seconds)
                bar.set_postfix(postfix)
                if bad_rounds >= self.patience:
                    history.stopped_early = True
                    logger.info("early stop after epoch %d; best epoch %d", epoch, history.best_epoch)
                    break
        bar.close()
        if best_state is not None:
            module.load_state_dict(best_state)
        else:
            history.best_epoch = len(history.epochs)
        module.eval()
        history.seconds = time.perf_counter() - start
        return history

    # ------------------------------------------------------------------ internals
    def _batch_source(self, batches: BatchFn | torch.utils.data.Dataset[Any]) -> BatchFn:
        if isinstance(batches, torch.utils.data.Dataset):
            generator = torch.Generator().manual_seed(self.seed)
            loader = torch.utils.data.DataLoader(
                batches, batch_size=self.batch_size, shuffle=True, generator=generator
            )
            return lambda epoch, rng: loader
        if callable(batches):
            return batches
        raise ConfigError(
            "batches must be a callable (epoch, rng) -> batches or a torch Dataset, "
            f"got {type(batches).__name__}"
        )

    def _run_epoch(
        self,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        batches: Iterable[Any],
        loss_fn: LossFn,
        epoch: int,
    ) -> EpochRecord:
        module.train()
        t0, c0 = time.perf_counter(), time.process_time()
        total, n_steps = 0.0, 0
        parts: dict[str, float] = {}
        max_norm, clipped = 0.0, 0
        params = [p for p in module.parameters() if p.requires_grad]
        for batch in batches:
            out = loss_fn(module, to_device(batch, self.device))
            loss = out["loss"] if isinstance(out, Mapping) else out
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingError(
                    f"loss is {value} at epoch {epoch}, step {n_steps + 1}; try a lower lr (now {self.lr})"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip = self.grad_clip if self.grad_clip is not None else math.inf
            norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
            max_norm = max(max_norm, norm)
            clipped += int(norm > clip)
            optimizer.step()
            total += value
            n_steps += 1
            if isinstance(out, Mapping):
                for key, part in out.items():
                    if key != "loss":
                        parts[key] = parts.get(key, 0.0) + float(part.detach())
        if n_steps == 0:
            raise TrainingError(f"epoch {epoch} produced no batches")
        return EpochRecord(
            epoch=epoch,
            loss=total / n_steps,
            parts={k: v / n_steps for k, v in parts.items()},
            seconds=time.perf_counter() - t0,
            cpu_seconds=time.process_time() - c0,
            grad_norm=max_norm,
            clipped_steps=clipped,
            steps=n_steps,
        )


def _clone_state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


__all__ = [
    "BatchFn",
    "EpochRecord",
    "LossFn",
    "TrainHistory",
    "Trainer",
    "TrainingError",
    "param_groups",
    "resolve_device",
    "seeded",
    "to_device",
    "torch_threads",
]
