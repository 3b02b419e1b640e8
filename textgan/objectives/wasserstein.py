"""The Wasserstein loss (WGAN): the critic maximises E[D(real)] − E[D(fake)], the generator
maximises E[D(fake)]."""

from __future__ import annotations

import torch

from textgan.objectives.kinds import Loss
from textgan.runtime.device import at_least_fp32


def critic_term(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[D(fake)] − E[D(real)]."""
    return -wasserstein_estimate(real_scores, fake_scores)


def generator_term(fake_scores: torch.Tensor) -> torch.Tensor:
    """−E[D(fake)]."""
    return -wide(fake_scores).mean()


def critic_term_grads(
    real_scores: torch.Tensor, fake_scores: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """critic_term's derivatives by each real (B,) and fake (B,) score: −1/B and 1/B."""
    real, fake = wide(real_scores), wide(fake_scores)
    return torch.full_like(real, -1 / len(real)), torch.full_like(fake, 1 / len(fake))


def generator_term_grad(fake_scores: torch.Tensor) -> torch.Tensor:
    """generator_term's derivative by each fake score (B,): −1/B."""
    fake = wide(fake_scores)
    return torch.full_like(fake, -1 / len(fake))


def wasserstein_estimate(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[D(real)] − E[D(fake)], the critic's distance estimate, logged for every loss."""
    return wide(real_scores).mean() - wide(fake_scores).mean()


def wide(scores: torch.Tensor) -> torch.Tensor:
    """Scores in fp32 at least (fp64 stays fp64): the losses are never summed in bf16."""
    return at_least_fp32(scores)


WASSERSTEIN = Loss(
    name="wasserstein",
    summary="the critic's E[D(fake)] − E[D(real)]",
    critic_term=critic_term,
    generator_term=generator_term,
    critic_term_grads=critic_term_grads,
    generator_term_grad=generator_term_grad,
)
