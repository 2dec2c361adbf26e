"""Differentially private training (DP-SGD) with Opacus, one user = one privacy unit.

DP-SGD (Abadi et al., CCS 2016) bounds what the trained weights reveal about any one user:

1. **Poisson sampling**: every step draws each *user* independently with probability
   ``q = batch_size / n_users`` (Opacus's ``UniformWithReplacementSampler``), so a batch has a random
   size around ``batch_size``;
2. **per-user clipping**: each user's gradient (of the mean loss over *all* of that user's training
   events, since one training example holds the user's whole contribution) is clipped to L2 norm
   ``max_grad_norm`` = C;
3. **noise**: Gaussian noise of standard deviation ``σ C`` is added to the sum of clipped gradients,
   which is divided by the expected batch size (Opacus's ``DPOptimizer``);
4. **accounting**: σ is the smallest noise that Opacus's Rényi-DP accountant
   (``get_noise_multiplier(accountant="rdp")``) finds to keep the planned ``epochs × ⌊1/q⌋`` steps
   within the target ε at δ; the same accountant, stepped by the optimiser, reports the (ε, δ)
   actually spent at the end (:class:`PrivacyReport`).

Neighbouring datasets differ by *all* events of one user (add/remove-one-user), so (ε, δ) protect a
user's whole history, not one event. A model opts in by turning each user into exactly one example
(``TorchRecommender._dp_examples``) and writing the loss of one example
(``TorchRecommender._dp_loss``); nothing in a user's example may depend on other users' data.

Per-user gradients are computed with ``torch.func`` (``vmap`` over ``grad`` of the one-example loss),
the mechanism behind Opacus's own ``functorch`` grad sampler, applied to the whole loss rather than
layer by layer. The layer-wise hooks of ``opacus.GradSampleModule`` cannot attribute every gradient
here to a user: SASRec ties its item table (input lookup and output scores read the same parameter,
partly outside any module call) and the two-tower model runs its item tower over the whole catalogue,
with no batch dimension. The models hold no ``nn.MultiheadAttention`` (their attention is
``Linear`` + ``scaled_dot_product_attention``) and no batch normalisation, which would mix users
within a batch; :func:`validate_module` runs Opacus's ``ModuleValidator`` to check the latter.

Early stopping is **disabled** under DP: choosing the epoch on a validation set drawn from the same
users would be a data-dependent selection outside the accountant, so training runs the planned
epochs and keeps the last weights (a given ``valid`` is not read, and a warning says so).
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from explorec import progress
from explorec.errors import ConfigError
from explorec.models.training import (
    EpochRecord,
    TrainHistory,
    TrainingError,
    param_groups,
    seeded,
    torch_threads,
)

logger = logging.getLogger(__name__)

#: the accountant that picks the noise and reports the spend (Opacus's Rényi-DP accountant)
ACCOUNTANT = "rdp"
#: Rényi orders searched for the tightest (ε, δ): Opacus's defaults (1.1 ... 63) and larger ones, which
#: the low sampling rates of recommender data (few users per step out of many) need
ALPHAS: tuple[float, ...] = (
    *(1 + x / 10.0 for x in range(1, 100)),
    *range(12, 64),
    *(64, 80, 96, 128, 160, 192, 256, 384, 512, 768, 1024),
)

#: ``loss(module, example, shared) -> scalar``: the loss of ONE user's example (tensors without a
#: batch dimension); ``shared`` holds batch-level tensors that depend on no user (e.g. negatives)
ExampleLoss = Callable[[nn.Module, dict[str, torch.Tensor], dict[str, torch.Tensor]], torch.Tensor]


def parse_epsilon(value: Any) -> float | None:
    """The target ε as a float, or None when DP is off (``None`` or infinity, e.g. ``"inf"``).

    Raises
    ------
    ConfigError
        For a value that is not a positive number or ``inf``.
    """
    if value is None:
        return None
    try:
        eps = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"dp_epsilon must be a positive number or 'inf' (DP off), got {value!r}") from None
    if math.isnan(eps) or eps <= 0:
        raise ConfigError(f"dp_epsilon must be a positive number or 'inf' (DP off), got {value!r}")
    return None if math.isinf(eps) else eps


def check_dp_params(epsilon: Any, delta: Any, max_grad_norm: Any) -> float | None:
    """Check ``dp_epsilon``, ``dp_delta`` and ``dp_max_grad_norm``; return the target ε (None: off)."""
    eps = parse_epsilon(epsilon)
    if delta is not None and not (isinstance(delta, int | float) and 0 < float(delta) < 1):
        raise ConfigError(f"dp_delta must lie in (0, 1), or None for 1/n_users, got {delta!r}")
    if not (isinstance(max_grad_norm, int | float) and math.isfinite(max_grad_norm) and max_grad_norm > 0):
        raise ConfigError(f"dp_max_grad_norm must be a positive number, got {max_grad_norm!r}")
    return eps


@dataclass
class PrivacyReport:
    """What a DP run promised and what its accountant says it spent.

    Attributes
    ----------
    epsilon : float
        ε spent, from the accountant that was stepped once per optimiser step (≤ ``target_epsilon``).
    delta : float
        δ of the guarantee (default ``1 / n_users``).
    target_epsilon : float
        The ε asked for (``dp_epsilon``).
    noise_multiplier : float
        σ: the noise standard deviation is ``σ · max_grad_norm``.
    max_grad_norm : float
        C: every user's gradient is clipped to this L2 norm.
    sample_rate : float
        q: the probability that a user is in a step's batch (``batch_size / n_users``).
    expected_batch_size : int
        ``q · n_users`` rounded down; the divisor of the noisy gradient sum.
    steps, epochs : int
        Optimiser steps taken and the epochs they make up (``steps = epochs · ⌊1 / q⌋``).
    n_users : int
        Privacy units: users who contributed a training example.
    unit : str
        ``"user"``: neighbouring datasets differ by all events of one user.
    accountant : str
        ``"rdp"`` (Opacus ``RDPAccountant``).
    best_alpha : float
        The Rényi order at which the (ε, δ) conversion was tightest.
    early_stopping : str
        Always ``"disabled"`` (see the module docstring).
    opacus : str
        Opacus version.
    """

    epsilon: float
    delta: float
    target_epsilon: float
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    expected_batch_size: int
    steps: int
    epochs: int
    n_users: int
    unit: str = "user"
    accountant: str = ACCOUNTANT
    best_alpha: float = 0.0
    early_stopping: str = "disabled"
    opacus: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrivacyReport:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> str:
        """One line for the CLI: ``(ε, δ) spent ... per user``."""
        return (
            f"differential privacy: (ε={self.epsilon:.3g}, δ={self.delta:.3g}) spent per user "
            f"(target ε={self.target_epsilon:g}; {self.steps} steps, sample rate {self.sample_rate:.4g}, "
            f"noise multiplier {self.noise_multiplier:.4g}, per-user clipping {self.max_grad_norm:g}; "
            f"{self.n_users} users; {self.accountant} accountant)"
        )


def opacus_version() -> str:
    try:
        return importlib.metadata.version("opacus")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a declared dependency
        return ""


def plan_noise(target_epsilon: float, delta: float, sample_rate: float, steps: int) -> float:
    """σ from Opacus's RDP accountant for ``steps`` Poisson-sampled steps at rate ``sample_rate``."""
    from opacus.accountants.utils import get_noise_multiplier

    try:
        with warnings.catch_warnings():
            # the bisection tries very large σ, whose best Rényi order lies beyond any list; the σ it
            # returns is checked against the target by the same accountant in DPTrainer.fit
            warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
            return float(
                get_noise_multiplier(
                    target_epsilon=target_epsilon,
                    target_delta=delta,
                    sample_rate=sample_rate,
                    steps=steps,
                    accountant=ACCOUNTANT,
                    alphas=list(ALPHAS),
                )
            )
    except ValueError as exc:
        raise ConfigError(
            f"dp_epsilon={target_epsilon:g} cannot be reached with δ={delta:.3g} over {steps} steps "
            f"at sample rate {sample_rate:.4g} ({exc})"
        ) from None


def validate_module(module: nn.Module) -> None:
    """Refuse layers that break per-user privacy (batch normalisation mixes users), via Opacus."""
    from opacus.validators import ModuleValidator

    errors = ModuleValidator.validate(module, strict=False)
    if errors:
        raise ConfigError(f"{type(module).__name__} cannot be trained with DP-SGD: {errors[0]}")


class _LossModule(nn.Module):
    """Wraps ``loss(net, example, shared)`` as a forward, so ``functional_call`` can swap parameters."""

    def __init__(self, net: nn.Module, loss: ExampleLoss) -> None:
        super().__init__()
        self.net = net
        self.loss = loss

    def forward(self, example: dict[str, torch.Tensor], shared: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.loss(self.net, example, shared)


def per_user_gradients(
    module: nn.Module,
    loss: ExampleLoss,
    batch: Mapping[str, torch.Tensor],
    shared: Mapping[str, torch.Tensor] | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Each example's (user's) gradient of its own loss, unclipped.

    Parameters
    ----------
    module : nn.Module
        In the mode it should run in (``train()`` for dropout: each user draws their own masks).
    loss : ExampleLoss
        The loss of one example.
    batch : mapping str -> Tensor[B, ...]
        One row per user.
    shared : mapping str -> Tensor, optional
        Batch-level inputs that depend on no user.

    Returns
    -------
    grads : dict name -> Tensor[B, *param.shape]
        For every trainable parameter.
    losses : Tensor[B]
    """
    from torch.func import functional_call, grad, vmap
    from torch.nn.attention import SDPBackend, sdpa_kernel

    wrapper = _LossModule(module, loss)
    names = [n for n, p in module.named_parameters() if p.requires_grad]
    params = {f"net.{n}": p.detach() for n, p in module.named_parameters() if p.requires_grad}
    frozen = {f"net.{n}": p.detach() for n, p in module.named_parameters() if not p.requires_grad}
    buffers = {f"net.{n}": b for n, b in module.named_buffers()}
    shared_in = dict(shared or {})

    def one(
        p: dict[str, torch.Tensor], example: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        value = functional_call(wrapper, {**p, **frozen, **buffers}, (example, shared_in))
        return value, value.detach()

    size = next(iter(batch.values())).shape[0]
    if size == 0:  # an empty Poisson batch: no user, zero gradient (the noise is still added)
        empty = {n: p.new_zeros((0, *p.shape)) for n, p in module.named_parameters() if p.requires_grad}
        return empty, torch.zeros(0)
    # the math kernel of scaled_dot_product_attention is made of ops vmap batches; the fused CPU
    # kernels have no batching rule, and vmap would loop over the users one by one
    with sdpa_kernel(SDPBackend.MATH):
        grads, losses = vmap(grad(one, has_aux=True), in_dims=(None, 0), randomness="different")(
            params, dict(batch)
        )
    return {n: grads[f"net.{n}"] for n in names}, losses


def per_user_norms(grads: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``float[B]``: the L2 norm of each user's gradient over all parameters (what Opacus clips)."""
    parts = [g.reshape(g.shape[0], -1).norm(2, dim=1) for g in grads.values()]
    return torch.stack(parts, dim=1).norm(2, dim=1)


class DPTrainer:
    """DP-SGD over one example per user (see the module docstring).

    Parameters
    ----------
    epochs : int
        Planned epochs; each has ``⌊1 / q⌋`` Poisson-sampled steps, all of which are run.
    batch_size : int
        Expected users per step (``q = batch_size / n_users``, capped at 1).
    lr, weight_decay : float
        AdamW settings (weight decay on matrices only, as in ``Trainer``).
    target_epsilon : float
        ε to reach at the end of the planned steps.
    delta : float
        δ of the guarantee.
    max_grad_norm : float
        Per-user clipping bound C.
    seed : int
        Seeds sampling, dropout and the noise.
    device, num_threads, progress
        As in ``Trainer``.
    """

    def __init__(
        self,
        *,
        epochs: int,
        batch_size: int,
        lr: float,
        weight_decay: float,
        target_epsilon: float,
        delta: float,
        max_grad_norm: float,
        seed: int = 0,
        device: torch.device | None = None,
        num_threads: int | None = None,
        progress: bool = True,
    ) -> None:
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.target_epsilon = float(target_epsilon)
        self.delta = float(delta)
        self.max_grad_norm = float(max_grad_norm)
        self.seed = int(seed)
        self.device = device or torch.device("cpu")
        self.num_threads = num_threads
        self.progress = progress

    def sample_rate(self, n_users: int) -> float:
        return min(1.0, self.batch_size / n_users)

    def steps_per_epoch(self, n_users: int) -> int:
        return int(1 / self.sample_rate(n_users))

    def fit(
        self,
        module: nn.Module,
        examples: Mapping[str, torch.Tensor],
        loss: ExampleLoss,
        shared: Callable[[np.random.Generator], dict[str, torch.Tensor]] | None = None,
        trim: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
    ) -> tuple[TrainHistory, PrivacyReport]:
        """Train ``module`` in place with DP-SGD; return the history and the privacy report.

        Parameters
        ----------
        module : nn.Module
        examples : mapping str -> Tensor[n_users, ...]
            Row ``u`` of every tensor is user ``u``'s whole contribution.
        loss : ExampleLoss
            The loss of one example.
        shared : callable, optional
            ``shared(rng)`` -> batch-level tensors drawn afresh each step (independent of the data).
        trim : callable, optional
            Shrinks a sampled batch without changing any example's loss (e.g. drops all-padding
            columns), to save compute.
        """
        from opacus.accountants import RDPAccountant
        from opacus.optimizers import DPOptimizer
        from opacus.utils.uniform_sampler import UniformWithReplacementSampler

        validate_module(module)
        n_users = int(next(iter(examples.values())).shape[0])
        if n_users == 0:
            raise TrainingError("DP training: no user has a training example")
        q = self.sample_rate(n_users)
        per_epoch = self.steps_per_epoch(n_users)
        planned = self.epochs * per_epoch
        sigma = plan_noise(self.target_epsilon, self.delta, q, planned)
        expected = max(1, int(n_users * q))
        logger.info(
            "DP-SGD: %d users, sample rate %.4g, %d steps, noise multiplier %.4g for ε=%g at δ=%.3g",
            n_users,
            q,
            planned,
            sigma,
            self.target_epsilon,
            self.delta,
        )
        module.to(self.device)
        rng = np.random.default_rng(self.seed)
        sampling = torch.Generator().manual_seed(self.seed)
        noise = torch.Generator(device=self.device).manual_seed(self.seed + 1)
        base = torch.optim.AdamW(param_groups(module, self.weight_decay), lr=self.lr)
        optimizer = DPOptimizer(
            base,
            noise_multiplier=sigma,
            max_grad_norm=self.max_grad_norm,
            expected_batch_size=expected,
            loss_reduction="mean",
            generator=noise,
        )
        accountant = RDPAccountant()
        optimizer.attach_step_hook(accountant.get_optimizer_hook_fn(sample_rate=q))
        sampler = UniformWithReplacementSampler(
            num_samples=n_users, sample_rate=q, generator=sampling, steps=per_epoch
        )
        history = TrainHistory()
        params = [p for p in module.parameters() if p.requires_grad]
        start = time.perf_counter()
        bar = progress.bar(range(1, self.epochs + 1), desc="train (DP)", unit="epoch", show=self.progress)
        with torch_threads(self.num_threads), seeded(self.seed, self.device):
            module.train()
            for epoch in bar:
                t0, c0 = time.perf_counter(), time.process_time()
                total, users, clipped, max_norm, n_steps = 0.0, 0, 0, 0.0, 0
                for indices in sampler:
                    idx = torch.as_tensor(indices, dtype=torch.long)
                    batch = {k: v[idx].to(self.device) for k, v in examples.items()}
                    if trim is not None and idx.numel():
                        batch = trim(batch)
                    extra = {k: v.to(self.device) for k, v in (shared(rng) if shared else {}).items()}
                    grads, losses = per_user_gradients(module, loss, batch, extra)
                    if losses.numel() and not bool(torch.isfinite(losses).all()):
                        raise TrainingError(
                            f"DP training: loss is not finite at epoch {epoch}; "
                            f"try a lower lr (now {self.lr})"
                        )
                    norms = per_user_norms(grads)
                    for p, g in zip(params, grads.values(), strict=True):
                        setattr(p, "grad_sample", g)  # what Opacus's DPOptimizer clips  # noqa: B010
                    optimizer.step()  # Opacus: clip per user, sum, add N(0, σ²C²), average, AdamW
                    optimizer.zero_grad(set_to_none=True)
                    total += float(losses.sum())
                    users += int(losses.numel())
                    clipped += int((norms > self.max_grad_norm).sum())
                    max_norm = max(max_norm, float(norms.max()) if norms.numel() else 0.0)
                    n_steps += 1
                record = EpochRecord(
                    epoch=epoch,
                    loss=total / max(users, 1),
                    parts={"clipped_share": clipped / max(users, 1), "users_per_step": users / n_steps},
                    seconds=time.perf_counter() - t0,
                    cpu_seconds=time.process_time() - c0,
                    grad_norm=max_norm,
                    clipped_steps=clipped,
                    steps=n_steps,
                )
                history.epochs.append(record)
                bar.set_postfix({"loss": f"{record.loss:.4f}"})
                logger.info(
                    "epoch %d loss %.4f (DP: %.0f%% of users clipped) %.1fs",
                    epoch,
                    record.loss,
                    100 * record.parts["clipped_share"],
                    record.seconds,
                )
        bar.close()
        module.eval()
        for p in params:  # leave no per-user tensors on the module
            setattr(p, "grad_sample", None)  # noqa: B010
            setattr(p, "summed_grad", None)  # noqa: B010
        history.best_epoch = len(history.epochs)
        history.seconds = time.perf_counter() - start
        spent, alpha = accountant.get_privacy_spent(delta=self.delta, alphas=list(ALPHAS))
        report = PrivacyReport(
            epsilon=float(spent),
            delta=self.delta,
            target_epsilon=self.target_epsilon,
            noise_multiplier=sigma,
            max_grad_norm=self.max_grad_norm,
            sample_rate=q,
            expected_batch_size=expected,
            steps=int(sum(h[2] for h in accountant.history)),
            epochs=self.epochs,
            n_users=n_users,
            best_alpha=float(alpha),
            opacus=opacus_version(),
        )
        logger.info("%s", report.summary())
        return history, report


__all__ = [
    "ACCOUNTANT",
    "ALPHAS",
    "DPTrainer",
    "ExampleLoss",
    "PrivacyReport",
    "check_dp_params",
    "parse_epsilon",
    "per_user_gradients",
    "per_user_norms",
    "plan_noise",
    "validate_module",
]
