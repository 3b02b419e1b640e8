"""WGAN-GP losses: the Wasserstein terms and the two-sided gradient penalty."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

GRAD_NORM_EPS = 1e-12  # keeps d‖g‖/dg finite at g = 0

Critic = Callable[[torch.Tensor], torch.Tensor]  # (B, L, V) → (B,)


def interpolate(real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """x̂ = real + α·(fake − real) with one α per sample: (B, L, V), α of shape (B,) or (B, 1, 1)."""
    alpha = alpha.reshape(-1, *([1] * (real.dim() - 1))).to(real.dtype)  # (B, 1, 1)
    return real + alpha * (fake - real)


def sample_alpha(batch: int, device: torch.device, rng: torch.Generator | None) -> torch.Tensor:
    """α ~ U(0, 1), one per sample: (B,), fp32."""
    return torch.rand(batch, generator=rng, device=device, dtype=torch.float32)


def penalty_from_gradient(grad: torch.Tensor) -> torch.Tensor:
    """mean over samples of (‖g‖₂ − 1)², the norm over ALL positions and vocabulary entries."""
    grad = grad.to(torch.promote_types(grad.dtype, torch.float32)).flatten(1)  # (B, L·V)
    norms = torch.sqrt(grad.square().sum(dim=1) + GRAD_NORM_EPS)  # (B,)
    return (norms - 1.0).square().mean()


def gradient_penalty(
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    rng: torch.Generator | None = None,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """The UNWEIGHTED penalty E[(‖∇x̂ D(x̂)‖₂ − 1)²], differentiable w.r.t. the critic.

    α is drawn from rng, one per sample, unless given (B,).
    """
    if alpha is None:
        alpha = sample_alpha(real.shape[0], real.device, rng)
    x_hat = interpolate(real, fake.detach(), alpha).requires_grad_(True)  # (B, L, V)
    scores = critic(x_hat)  # (B,)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # (B, L, V)
    return penalty_from_gradient(grad)


@dataclass(frozen=True)
class CriticLoss:
    """The critic's loss and its parts (all 0-d tensors)."""

    loss: torch.Tensor  # D(fake) − D(real) + gp_weight · GP
    wasserstein: torch.Tensor  # D(real) − D(fake), the critic's distance estimate
    gp: torch.Tensor


def critic_loss(
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    gp_weight: float,
    rng: torch.Generator | None = None,
    alpha: torch.Tensor | None = None,
) -> CriticLoss:
    """D(fake) − D(real) + gp_weight · GP, one critic call per term as in the paper.

    (Scoring real, fake and x̂ in one call of batch 3B was measured slower: the double
    backward then runs over all 3B rows.)
    """
    wasserstein = _wide(critic(real)).mean() - _wide(critic(fake.detach())).mean()
    gp = gradient_penalty(critic, real, fake, rng, alpha)
    return CriticLoss(-wasserstein + gp_weight * gp, wasserstein.detach(), gp.detach())


def generator_loss(critic: Critic, fake: torch.Tensor) -> torch.Tensor:
    """−E[D(fake)]."""
    return -_wide(critic(fake)).mean()


def _wide(scores: torch.Tensor) -> torch.Tensor:
    """Scores in fp32 at least (fp64 stays fp64)."""
    return scores.to(torch.promote_types(scores.dtype, torch.float32))
