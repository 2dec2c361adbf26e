"""The fine-tuned text kNN: it starts as TextKNN, its softmax masks the prefix and cold items, mixing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from explorec.data.toy import known_answer_dataset, known_answer_split
from explorec.errors import ConfigError
from explorec.models.textknn import TextKNN
from explorec.models.textknn_tuned import ProfileNet, TunedTextKNN, prefixes

HASHING = "hashing:128"


def _pair(**params: object) -> tuple[TunedTextKNN, TextKNN]:
    split, catalog = known_answer_split(), known_answer_dataset().catalog
    torch.set_num_threads(1)
    tuned = TunedTextKNN(encoder=HASHING, progress=False, **params).fit(split.train, catalog)  # type: ignore[arg-type]
    return tuned, TextKNN(encoder=HASHING, decay=tuned.decay, max_history=tuned.max_history).fit(
        split.train, catalog
    )


@pytest.mark.parametrize(("decay", "max_history"), [(0.8, 50), (0.5, 2)])
def test_untrained_it_is_the_zero_shot_text_knn(decay: float, max_history: int) -> None:
    tuned, zero_shot = _pair(epochs=0, decay=decay, max_history=max_history)
    history = known_answer_split().test_history
    users = np.arange(history.n_users)
    np.testing.assert_allclose(
        tuned.score(users, history=history), zero_shot.score(users, history=history), atol=2e-6
    )


def test_zero_shot_weight_one_is_the_text_knn_after_training() -> None:
    tuned, zero_shot = _pair(epochs=5, lr=1e-2, batch_size=64, zero_shot_weight=1.0)
    assert tuned.module_.query.weight.abs().max() > 0  # the map moved away from the identity
    users = np.arange(12)
    np.testing.assert_allclose(tuned.score(users), zero_shot.score(users), atol=2e-6)
    tuned.zero_shot_weight = 0.0
    assert np.abs(tuned.score(users) - zero_shot.score(users)).max() > 1e-3


def _net(n_items: int, warm: list[bool]) -> ProfileNet:
    net = ProfileNet(
        {"n_items": n_items, "text_dim": n_items, "max_history": 4, "decay": 0.8, "item_residual": False}
    )
    net.text.copy_(torch.eye(n_items))  # orthonormal item vectors
    net.warm.copy_(torch.tensor(warm))
    return net


def test_the_softmax_leaves_out_the_prefix_and_cold_items() -> None:
    model = TunedTextKNN(temperature=0.5)
    seq, target = torch.tensor([[0, 1]]), torch.tensor([1])  # prefix: item 0 (stored + 1); target: item 1
    # items 1, 2, 3 are candidates (item 0 is in the prefix); all score cos 0 with the profile e_0
    with torch.no_grad():
        parts = model._loss(_net(4, [True, True, True, True]), (seq, target))
    assert math.isclose(parts["ce"].item(), math.log(3), rel_tol=1e-6)
    # a cold item is never a candidate: items 1 and 2 remain
    with torch.no_grad():
        parts = model._loss(_net(4, [True, True, True, False]), (seq, target))
    assert math.isclose(parts["ce"].item(), math.log(2), rel_tol=1e-6)
    assert parts["anchor"].item() == 0.0  # the maps start at the identity


def test_prefixes_tile_every_transition() -> None:
    inputs, targets = prefixes([np.array([3, 4, 5, 6])], 2)
    assert inputs.tolist() == [[0, 4], [4, 5], [5, 6]]  # at most 2 items, shifted by 1 (0 = padding)
    assert targets.tolist() == [4, 5, 6]


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("decay", 0.0, "decay must lie in"),
        ("temperature", 0.0, "temperature must be > 0"),
        ("anchor_l2", -1.0, "anchor_l2 must be >= 0"),
        ("zero_shot_weight", 1.5, "zero_shot_weight"),
    ],
)
def test_bad_parameters_name_themselves(param: str, value: float, message: str) -> None:
    split, catalog = known_answer_split(), known_answer_dataset().catalog
    with pytest.raises(ConfigError, match=message):
        TunedTextKNN(encoder=HASHING, progress=False, **{param: value}).fit(split.train, catalog)  # type: ignore[arg-type]


def test_kernel_zero_shot_is_textknn_kernel() -> None:
    split, catalog = known_answer_split(), known_answer_dataset().catalog
    torch.set_num_threads(1)
    tuned = TunedTextKNN(
        encoder=HASHING, progress=False, epochs=5, lr=1e-2, batch_size=64, zero_shot="kernel",
        kernel_temperature=0.1, zero_shot_weight=1.0,
    ).fit(split.train, catalog)  # fmt: skip
    kernel = TextKNN(encoder=HASHING, scoring="kernel", kernel_temperature=0.1).fit(split.train, catalog)
    history = split.test_history
    users = np.arange(history.n_users)
    np.testing.assert_allclose(
        tuned.score(users, history=history), kernel.score(users, history=history), atol=2e-6
    )
    # a mix lies between the fine-tuned score and the kernel
    tuned.zero_shot_weight = 0.0
    trained = tuned.score(users, history=history)
    tuned.zero_shot_weight = 0.3
    np.testing.assert_allclose(
        tuned.score(users, history=history),
        0.7 * trained + 0.3 * kernel.score(users, history=history),
        atol=2e-6,
    )
    with pytest.raises(ConfigError, match="zero_shot must be one of profile, kernel"):
        TunedTextKNN(encoder=HASHING, zero_shot="max").fit(split.train, catalog)
