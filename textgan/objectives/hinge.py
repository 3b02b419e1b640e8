"""The hinge loss (Lim & Ye 2017; Miyato et al. 2018, with spectral normalisation)."""

from __future__ import annotations

import torch

from textgan.objectives.kinds import Loss
from textgan.objectives.wasserstein import wide


def critic_term(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[relu(1 − D(real))] + E[relu(1 + D(fake))]."""
    return torch.relu(1 - wide(real_scores)).mean() + torch.relu(1 + wide(fake_scores)).mean()


def generator_term(fake_scores: torch.Tensor) -> torch.Tensor:
    """−E[D(fake)]."""
    return -wide(fake_scores).mean()


def critic_term_grads(
    real_scores: torch.Tensor, fake_scores: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """critic_term's derivatives by each real (B,) and fake (B,) score: −1/B where
    D(real) < 1, 1/B where D(fake) > −1, else 0 (relu's derivative at 0 is 0, as autograd's)."""
    real, fake = wide(real_scores), wide(fake_scores)
    return -(real < 1).to(real.dtype) / len(real), (fake > -1).to(fake.dtype) / len(fake)


def generator_term_grad(fake_scores: torch.Tensor) -> torch.Tensor:
    """generator_term's derivative by each fake score (B,): −1/B."""
    fake = wide(fake_scores)
    return torch.full_like(fake, -1 / len(fake))


HINGE = Loss(
    name="hinge",
    summary="margin 1",
    critic_term=critic_term,
    generator_term=generator_term,
    critic_term_grads=critic_term_grads,
    generator_term_grad=generator_term_grad,
)
