"""The standard GAN loss (Goodfellow et al. 2014) with the non-saturating generator loss:
binary cross-entropy on the critic's scores taken as logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from textgan.objectives.kinds import Loss
from textgan.objectives.wasserstein import wide


def critic_term(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[softplus(−D(real))] + E[softplus(D(fake))]
    = −E[log σ(D(real))] − E[log(1 − σ(D(fake)))]."""
    return F.softplus(-wide(real_scores)).mean() + F.softplus(wide(fake_scores)).mean()


def generator_term(fake_scores: torch.Tensor) -> torch.Tensor:
    """E[softplus(−D(fake))] = −E[log σ(D(fake))] (non-saturating)."""
    return F.softplus(-wide(fake_scores)).mean()


def critic_term_grads(
    real_scores: torch.Tensor, fake_scores: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """critic_term's derivatives by each real (B,) and fake (B,) score: −σ(−D(real))/B and
    σ(D(fake))/B."""
    real, fake = wide(real_scores), wide(fake_scores)
    return -torch.sigmoid(-real) / len(real), torch.sigmoid(fake) / len(fake)


def generator_term_grad(fake_scores: torch.Tensor) -> torch.Tensor:
    """generator_term's derivative by each fake score (B,): −σ(−D(fake))/B."""
    fake = wide(fake_scores)
    return -torch.sigmoid(-fake) / len(fake)


GAN = Loss(
    name="gan",
    summary="non-saturating",
    critic_term=critic_term,
    generator_term=generator_term,
    critic_term_grads=critic_term_grads,
    generator_term_grad=generator_term_grad,
)
