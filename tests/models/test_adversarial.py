"""FGSM/APR perturbation: size epsilon along the gradient, row by row or for the whole table."""

from __future__ import annotations

import pytest
import torch

from explorec.errors import ConfigError
from explorec.models.adversarial import fgsm_perturbation


def test_each_row_moves_by_epsilon_along_its_gradient() -> None:
    table = torch.tensor([[1.0, 2.0], [0.5, -1.0], [3.0, 3.0]], requires_grad=True)
    weights = torch.tensor([[3.0, 4.0], [0.0, -2.0], [0.0, 0.0]])  # row 2 gets no gradient
    loss = (table * weights).sum()  # gradient = weights
    delta = fgsm_perturbation(loss, table, 0.5)
    torch.testing.assert_close(delta, torch.tensor([[0.3, 0.4], [0.0, -0.5], [0.0, 0.0]]))
    assert not delta.requires_grad
    loss.backward()  # the graph was kept for the caller
    whole = fgsm_perturbation((table * weights).sum(), table, 0.5, per_row=False)
    torch.testing.assert_close(whole.norm(), torch.tensor(0.5))
    torch.testing.assert_close(whole, 0.5 * weights / weights.norm())
    with pytest.raises(ConfigError, match="adv_epsilon must be >= 0"):
        fgsm_perturbation((table * weights).sum(), table, -1.0)
