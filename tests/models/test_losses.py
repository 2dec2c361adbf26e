"""Sampled softmax: equal to the full softmax when every item is a negative; accidental hits dropped."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from explorec.models.losses import sampled_softmax_loss, sequence_sampled_softmax_loss


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


def test_sequence_negatives_equal_per_row_negatives_repeated_over_positions() -> None:
    gen = torch.Generator().manual_seed(2)
    hidden, items = torch.randn(3, 4, 6, generator=gen), torch.randn(11, 6, generator=gen)
    target = torch.tensor([[-1, 2, 5, 7], [-1, -1, 0, 10], [1, 1, 3, 4]])  # -1 = padding
    negatives = torch.randint(0, 11, (3, 5), generator=gen)
    negatives[1, 0] = 10  # an accidental hit at (1, 3)
    real = target >= 0
    rows = torch.arange(3)[:, None].expand(3, 4)[real]  # the sequence of every real position
    expected = sampled_softmax_loss(hidden[real], items, target[real], negatives[rows])
    torch.testing.assert_close(sequence_sampled_softmax_loss(hidden, items, target, negatives), expected)
    # by hand for the position whose target (10) is also one of its sequence's negatives: dropped
    h = hidden[1, 3]
    negs = [int(n) for n in negatives[1] if int(n) != 10]
    logits = torch.stack([h @ items[10]] + [h @ items[n] for n in negs])
    by_hand = -torch.log_softmax(logits, 0)[0]
    one = sequence_sampled_softmax_loss(hidden[1:2, 3:], items, target[1:2, 3:], negatives[1:2])
    torch.testing.assert_close(one, by_hand)
