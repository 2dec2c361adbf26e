"""Sampled softmax: the next-item cross-entropy against a shared set of sampled negatives.

For a batch of hidden states ``h_m`` with targets ``t_m`` and ``S`` negatives ``n_1..n_S`` (sampled
softmax, Jean et al., ACL 2015), with ``s(m, i) = <h_m, e_i> / tau``::

    loss = mean_m  -log( exp s(m, t_m) / (exp s(m, t_m) + sum_s exp s(m, n_ms)) )

The negatives are either shared by the batch (``negatives`` of shape ``[S]``: ``n_ms = n_s``) or drawn
for every row (``[M, S]``, as RecTools' SASRec and the eSASRec benchmark do: each position gets its own
``S`` items, so an epoch pushes down ``M`` times more negatives). :func:`sequence_sampled_softmax_loss`
is the middle: one set per sequence, shared by that sequence's positions, scored with one batched
matrix product instead of gathering ``[M, S, D]`` embeddings. Drawn uniformly, the log-Q correction
of sampled softmax is the same constant for every candidate and cancels. A negative equal to the row's
target (an accidental hit) is dropped from that row. With every item drawn exactly once as a negative,
the loss is the full softmax cross-entropy over the catalogue.
SASRec and the LM adapter both train with it (``loss="sampled"`` / ``n_negatives=...``).

Examples
--------
>>> import torch
>>> items = torch.eye(3)
>>> hidden = torch.tensor([[2.0, 0.0, 0.0]])
>>> target = torch.tensor([0])
>>> full = torch.nn.functional.cross_entropy(hidden @ items.T, target)
>>> bool(torch.isclose(sampled_softmax_loss(hidden, items, target, torch.arange(3)), full))
True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sampled_softmax_loss(
    hidden: torch.Tensor,
    items: torch.Tensor,
    target: torch.Tensor,
    negatives: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Mean sampled-softmax cross-entropy (module docstring).

    Parameters
    ----------
    hidden : float[M, D]
        One query per prediction.
    items : float[N, D]
        Item representations; ``target`` and ``negatives`` index its rows.
    target : int64[M]
        Each query's positive item.
    negatives : int64[S] or int64[M, S]
        Negatives shared by all queries, or each query's own (duplicates count as often as they are
        drawn).
    temperature : float
        Logits are divided by it.
    """
    pos = (hidden * items[target]).sum(-1, keepdim=True)  # [M, 1]
    if negatives.dim() == 1:
        neg = hidden @ items[negatives].T  # [M, S]
        hit = negatives[None, :] == target[:, None]  # [M, S]
    else:
        neg = torch.bmm(items[negatives], hidden[:, :, None]).squeeze(2)  # [M, S, D] x [M, D, 1] -> [M, S]
        hit = negatives == target[:, None]  # [M, S]
    return _positive_first_cross_entropy(pos, neg, hit, temperature)


def sequence_sampled_softmax_loss(
    hidden: torch.Tensor,
    items: torch.Tensor,
    target: torch.Tensor,
    negatives: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Sampled softmax with one set of negatives per sequence, shared by its positions.

    The same loss as :func:`sampled_softmax_loss` with row ``(b, t)``'s negatives ``negatives[b]``
    (tested against it), computed as ``[B, T, D] x [B, D, S]`` so that the ``B x S`` negative embeddings
    are gathered once per sequence rather than once per position.

    Parameters
    ----------
    hidden : float[B, T, D]
        One query per position.
    items : float[N, D]
        Item representations.
    target : int64[B, T]
        Each position's positive item (a row of ``items``); positions with ``target < 0`` are padding
        and do not count.
    negatives : int64[B, S]
        Each sequence's negatives.
    temperature : float
        Logits are divided by it.
    """
    real = target >= 0  # [B, T]
    t = target.clamp_min(0)
    pos = (hidden * items[t]).sum(-1, keepdim=True)  # [B, T, 1]
    neg = torch.bmm(hidden, items[negatives].transpose(1, 2))  # [B, T, S]
    hit = negatives[:, None, :] == t[:, :, None]  # [B, T, S]
    return _positive_first_cross_entropy(pos[real], neg[real], hit[real], temperature)  # rows [M]


def _positive_first_cross_entropy(
    pos: torch.Tensor, neg: torch.Tensor, hit: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Mean cross-entropy of logits ``[pos | neg]`` (``[M, 1]``, ``[M, S]``) with the positive as the
    class; an accidental hit (``hit``: a negative equal to the row's target) is not a negative."""
    neg = neg.masked_fill(hit, float("-inf"))  # [M, S]
    logits = torch.cat([pos, neg], dim=1) / temperature  # [M, 1 + S]
    return F.cross_entropy(logits, torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device))
