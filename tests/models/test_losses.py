"""Sampled softmax: equal to the full softmax when every item is a negative; accidental hits dropped."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from explorec.models.losses import sampled_softmax_loss


def test_every_item_as_a_negative_is_the_full_softmax() -> None:
    gen = torch.Generator().manual_seed(0)
    hidden, items = torch.randn(7, 5, generator=gen), torch.randn(11, 5, generator=gen)
    target = torch.randint(0, 11, (7,), generator=gen)
    for tau in (1.0, 0.2):
        full = F.cross_entropy(hidden @ items.T / tau, target)
        sampled = sampled_softmax_loss(hidden, items, target, torch.arange(11), tau)
        torch.testing.assert_close(sampled, full)
        # the order of the negatives does not matter
        shuffled = torch.randperm(11, generator=gen)
        torch.testing.assert_close(sampled_softmax_loss(hidden, items, target, shuffled, tau), full)


def test_sampled_softmax_by_hand() -> None:
    items = torch.eye(3)
    hidden = torch.tensor([[2.0, 1.0, 0.0]])
    # target 0 (logit 2), negatives 1 (logit 1), 1 again, and 0 (the target itself: dropped)
    loss = sampled_softmax_loss(hidden, items, torch.tensor([0]), torch.tensor([1, 1, 0]))
    assert float(loss) == pytest.approx(-math.log(math.exp(2) / (math.exp(2) + 2 * math.exp(1))), rel=1e-6)


def test_per_row_negatives_are_each_rows_own_sampled_softmax() -> None:
    gen = torch.Generator().manual_seed(1)
    hidden, items = torch.randn(4, 6, generator=gen), torch.randn(9, 6, generator=gen)
    target = torch.tensor([0, 3, 3, 8])
    negatives = torch.randint(0, 9, (4, 5), generator=gen)
    negatives[1, 2] = 3  # an accidental hit in row 1
    rows = [sampled_softmax_loss(hidden[m : m + 1], items, target[m : m + 1], negatives[m]) for m in range(4)]
    torch.testing.assert_close(
        sampled_softmax_loss(hidden, items, target, negatives), torch.stack(rows).mean()
    )
