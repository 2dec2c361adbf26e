"""Sequence augmentations and the contrastive (InfoNCE) loss for self-supervised sequential training.

CL4SRec (Xie et al., "Contrastive Learning for Sequential Recommendation", ICDE 2022) builds two views
of each user sequence with random *crop*, *mask* and *reorder* operators and pulls the two views'
representations together against the other sequences of the batch; DuoRec (Qiu et al., WSDM 2022)
uses the model's own dropout as the augmentation instead (two forward passes of the same sequence).
Both are trained with the normalised-temperature cross-entropy (NT-Xent / InfoNCE, Chen et al. 2020):

    L = -1/(2B) Σ_i log exp(sim(z_i, z_i') / τ) / Σ_{j ≠ i} exp(sim(z_i, z_j) / τ)

over the 2B views, with cosine similarity ``sim`` and temperature ``τ``.

The operators work on one 1-d sequence of item indices and draw from a caller's
``numpy.random.Generator``; they never return an empty sequence.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> seq = np.arange(1, 11)
>>> crop(seq, 0.5, rng).size
5
>>> int((mask(seq, 0.3, rng, token=99) == 99).sum())
3
>>> sorted(reorder(seq, 0.5, rng).tolist()) == seq.tolist()
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from explorec.errors import ConfigError, check_range

IntSeq = npt.NDArray[np.int64]

#: names accepted by ``augment``
AUGMENTATIONS = ("crop", "mask", "reorder")


def crop(seq: IntSeq, eta: float, rng: np.random.Generator) -> IntSeq:
    """A random contiguous sub-sequence of length ``max(1, floor(eta * n))`` (CL4SRec item crop)."""
    n = seq.size
    length = max(1, int(eta * n))
    if n <= length:
        return seq.copy()
    start = int(rng.integers(0, n - length + 1))
    return seq[start : start + length].copy()


def mask(seq: IntSeq, gamma: float, rng: np.random.Generator, *, token: int) -> IntSeq:
    """``floor(gamma * n)`` random positions replaced by the mask ``token`` (CL4SRec item mask)."""
    out = seq.copy()
    count = int(gamma * seq.size)
    if count:
        out[rng.choice(seq.size, size=count, replace=False)] = token
    return out


def reorder(seq: IntSeq, beta: float, rng: np.random.Generator) -> IntSeq:
    """A random contiguous sub-sequence of length ``floor(beta * n)`` shuffled (CL4SRec item reorder)."""
    n = seq.size
    length = int(beta * n)
    out = seq.copy()
    if length < 2:
        return out
    start = int(rng.integers(0, n - length + 1))
    out[start : start + length] = rng.permutation(out[start : start + length])
    return out


def augment(
    seq: IntSeq,
    rng: np.random.Generator,
    *,
    methods: Sequence[str] = AUGMENTATIONS,
    eta: float = 0.6,
    gamma: float = 0.3,
    beta: float = 0.6,
    mask_token: int,
) -> IntSeq:
    """One view of ``seq`` from an operator drawn uniformly from ``methods``.

    Parameters
    ----------
    seq : int64[n]
    rng : numpy Generator
    methods : sequence of {"crop", "mask", "reorder"}
    eta, gamma, beta : float
        Crop ratio, mask ratio and reorder ratio (CL4SRec's η, γ, β).
    mask_token : int
        Item index used by ``mask``.
    """
    name = methods[int(rng.integers(0, len(methods)))]
    if name == "crop":
        return crop(seq, eta, rng)
    if name == "mask":
        return mask(seq, gamma, rng, token=mask_token)
    if name == "reorder":
        return reorder(seq, beta, rng)
    raise ConfigError(f"augmentation must be one of {AUGMENTATIONS}, got {name!r}")


def parse_methods(spec: str) -> tuple[str, ...]:
    """``"crop+mask+reorder"`` -> ``("crop", "mask", "reorder")``, validated."""
    methods = tuple(m for m in spec.split("+") if m)
    bad = [m for m in methods if m not in AUGMENTATIONS]
    if not methods or bad:
        raise ConfigError(f"cl_augment must join {AUGMENTATIONS} with '+' (or be 'dropout'), got {spec!r}")
    return methods


def check_ratios(eta: float, gamma: float, beta: float) -> None:
    """Each ratio must lie in [0, 1]."""
    check_range("crop_ratio", eta, 0.0, 1.0)
    check_range("mask_ratio", gamma, 0.0, 1.0)
    check_range("reorder_ratio", beta, 0.0, 1.0)


def info_nce(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """NT-Xent loss between two views; row ``i`` of ``z1`` and ``z2`` are the positive pair.

    Parameters
    ----------
    z1, z2 : float[B, D]
        Representations of the two views of B sequences.
    temperature : float
        τ > 0; smaller values sharpen the distribution over negatives.

    Returns
    -------
    Tensor
        Scalar mean loss over the 2B anchors (the other 2B - 2 views are the negatives).
    """
    if temperature <= 0:
        raise ConfigError(f"cl_temperature must be > 0, got {temperature!r}")
    batch = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)  # [2B, D]
    sim = z @ z.T / temperature  # [2B, 2B]
    sim = sim.masked_fill(torch.eye(2 * batch, dtype=torch.bool, device=z.device), float("-inf"))
    targets = torch.cat([torch.arange(batch, 2 * batch), torch.arange(0, batch)]).to(z.device)  # [2B]
    return F.cross_entropy(sim, targets)
