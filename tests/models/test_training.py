"""The generic Trainer: early stopping, checkpoint restore, determinism, clipping, bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from explorec.errors import ConfigError
from explorec.models.training import Trainer, TrainingError, param_groups, seeded

torch.set_num_threads(1)

X = torch.linspace(-1, 1, 32).unsqueeze(1)
Y = 2 * X + 0.5


def _batches(epoch: int, rng: np.random.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    order = torch.from_numpy(rng.permutation(32))
    return [(X[order[i : i + 8]], Y[order[i : i + 8]]) for i in range(0, 32, 8)]


def _mse(module: nn.Module, batch: Any) -> torch.Tensor:
    return nn.functional.mse_loss(module(batch[0]), batch[1])


def _net(seed: int = 0) -> nn.Module:
    with seeded(seed):
        return nn.Sequential(nn.Linear(1, 8), nn.Dropout(0.5), nn.Linear(8, 1))


def test_fits_a_line_and_records_history() -> None:
    net = nn.Linear(1, 1)
    history = Trainer(epochs=60, lr=0.1, progress=False).fit(net, _batches, _mse)
    assert net.weight.item() == pytest.approx(2.0, abs=0.05)
    assert net.bias.item() == pytest.approx(0.5, abs=0.05)
    assert len(history.epochs) == 60 and history.best_epoch == 60
    assert history.losses[-1] < history.losses[0]
    assert all(e.steps == 4 and e.seconds >= 0 for e in history.epochs)
    assert history.to_dict()["epochs"][0]["epoch"] == 1


def test_early_stopping_restores_the_best_checkpoint() -> None:
    metrics = iter([0.1, 0.5, 0.3, 0.2, 0.9])  # best after epoch 2, then two worse rounds
    snapshots: list[torch.Tensor] = []
    net = nn.Linear(1, 1)

    def validate() -> float:
        assert not net.training  # the trainer validates in eval mode
        snapshots.append(net.weight.detach().clone())
        return next(metrics)

    history = Trainer(epochs=10, lr=0.1, patience=2, progress=False).fit(net, _batches, _mse, validate)
    assert history.stopped_early and len(history.epochs) == 4
    assert history.best_epoch == 2 and history.best_metric == 0.5
    assert history.metrics == [0.1, 0.5, 0.3, 0.2]
    torch.testing.assert_close(net.weight.detach(), snapshots[1], rtol=0, atol=0)
    assert not torch.equal(snapshots[1], snapshots[3])  # training did move the weights after the best


def test_same_seed_same_weights_and_global_rng_untouched() -> None:
    state = torch.get_rng_state()
    a, b, c = _net(), _net(), _net()
    Trainer(epochs=5, seed=3, progress=False).fit(a, _batches, _mse)
    Trainer(epochs=5, seed=3, progress=False).fit(b, _batches, _mse)
    Trainer(epochs=5, seed=4, progress=False).fit(c, _batches, _mse)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True))
    assert torch.equal(torch.get_rng_state(), state)


def test_gradient_clipping_bounds_the_step() -> None:
    net = nn.Linear(4, 1, bias=False)
    nn.init.zeros_(net.weight)

    def loss_fn(module: nn.Module, batch: Any) -> torch.Tensor:
        return 100.0 * module.weight.sum()  # gradient 100 per weight, norm 200

    sgd = lambda groups, lr: torch.optim.SGD(groups, lr=lr)  # noqa: E731  plain SGD: step = lr * grad
    one_batch = lambda epoch, rng: [None]  # noqa: E731
    history = Trainer(epochs=1, lr=1.0, grad_clip=0.5, optimizer_factory=sgd, progress=False).fit(
        net, one_batch, loss_fn
    )
    assert float(net.weight.detach().norm()) == pytest.approx(0.5, rel=1e-5)
    assert history.epochs[0].grad_norm == pytest.approx(200.0)
    assert history.epochs[0].clipped_steps == 1
    unclipped = nn.Linear(4, 1, bias=False)
    nn.init.zeros_(unclipped.weight)
    Trainer(epochs=1, lr=1.0, grad_clip=None, optimizer_factory=sgd, progress=False).fit(
        unclipped, one_batch, loss_fn
    )
    assert float(unclipped.weight.detach().norm()) == pytest.approx(200.0)


def test_torch_dataset_source_and_logged_parts() -> None:
    data = torch.utils.data.TensorDataset(X, Y)
    net = nn.Linear(1, 1)

    def loss_fn(module: nn.Module, batch: Any) -> dict[str, torch.Tensor]:
        mse = _mse(module, batch)
        l1 = module.weight.abs().sum()
        return {"loss": mse + 0.01 * l1, "mse": mse, "l1": l1}

    history = Trainer(epochs=3, batch_size=10, progress=False).fit(net, data, loss_fn)
    assert history.epochs[0].steps == 4  # 32 rows in batches of 10
    assert set(history.epochs[0].parts) == {"mse", "l1"}


def test_weight_decay_skips_biases_and_norms() -> None:
    net = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    decayed, plain = param_groups(net, 0.1)
    assert decayed["weight_decay"] == 0.1 and [p.shape for p in decayed["params"]] == [(4, 3)]
    assert plain["weight_decay"] == 0.0 and len(plain["params"]) == 3


def test_threads_are_restored() -> None:
    before = torch.get_num_threads()
    seen: list[int] = []

    def loss_fn(module: nn.Module, batch: Any) -> torch.Tensor:
        seen.append(torch.get_num_threads())
        return _mse(module, batch)

    Trainer(epochs=1, num_threads=2, progress=False).fit(nn.Linear(1, 1), _batches, loss_fn)
    assert set(seen) == {2}
    assert torch.get_num_threads() == before


def test_nan_loss_is_an_error_naming_epoch_and_lr() -> None:
    def loss_fn(module: nn.Module, batch: Any) -> torch.Tensor:
        return module(batch[0]).sum() * float("nan")

    with pytest.raises(TrainingError, match=r"epoch 1, step 1.*lr"):
        Trainer(epochs=2, progress=False).fit(nn.Linear(1, 1), _batches, loss_fn)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": 0.0}, "lr must be > 0, got 0.0"),
        ({"epochs": 0}, "epochs must be a positive integer, got 0"),
        ({"grad_clip": -1.0}, "grad_clip"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"device": "tpu"}, "'auto', 'cpu' or 'cuda"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Trainer(**kwargs)
