"""Adversarial training by small worst-case perturbations of embeddings (APR / FGSM).

APR (He et al., "Adversarial Personalized Ranking for Recommendation", SIGIR 2018) trains a model to
stay accurate when its embeddings are pushed in the direction that hurts it most. The perturbation
is the fast-gradient-sign style step of Goodfellow et al. (2015) in its L2 form:

    Δ = ε · g / ||g||₂,   g = ∂L / ∂E

(computed per row of the embedding table ``E`` here, so every item moves by exactly ``ε``), and the
training loss becomes ``L(E) + λ · L(E + Δ)`` with Δ treated as a constant.

Examples
--------
>>> table = torch.ones(3, 2, requires_grad=True)
>>> loss = (table[0] * torch.tensor([3.0, 4.0])).sum()
>>> delta = fgsm_perturbation(loss, table, epsilon=0.5)
>>> [round(v, 4) for v in delta[0].tolist()], delta[1].tolist()
([0.3, 0.4], [0.0, 0.0])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from explorec.errors import ConfigError


def fgsm_perturbation(
    loss: torch.Tensor, table: torch.Tensor, epsilon: float, *, per_row: bool = True
) -> torch.Tensor:
    """The worst-case L2 perturbation of ``table`` for ``loss`` (detached, same shape as ``table``).

    Parameters
    ----------
    loss : Tensor
        Scalar loss whose graph contains ``table``; the graph is retained for the caller's backward.
    table : float[N, D]
        Embedding table (a parameter or an intermediate tensor).
    epsilon : float
        Size of the perturbation (L2 norm per row when ``per_row``, of the whole table otherwise).
    per_row : bool
        Normalise each row's gradient separately; rows with zero gradient are not moved.

    Returns
    -------
    float[N, D]
        ``epsilon * g / ||g||``, detached.
    """
    if epsilon < 0:
        raise ConfigError(f"adv_epsilon must be >= 0, got {epsilon!r}")
    (grad,) = torch.autograd.grad(loss, table, retain_graph=True)
    grad = grad.detach()
    if per_row:
        return epsilon * F.normalize(grad, dim=-1)
    return epsilon * grad / grad.norm().clamp_min(1e-12)
