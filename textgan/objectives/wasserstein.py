"""The Wasserstein terms of WGAN-GP, and the critic's whole loss computed by autograd (the
reference the fused engine is held to)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textgan.objectives.penalty import ScoreFn, gradient_penalty


@dataclass(frozen=True)
class CriticLoss:
    """The critic's loss and its parts (all 0-d tensors)."""

    loss: torch.Tensor  # D(fake) − D(real) + gp_weight · GP
    wasserstein: torch.Tensor  # D(real) − D(fake), the critic's distance estimate
    gp: torch.Tensor


def wasserstein_estimate(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[D(real)] − E[D(fake)], in fp32 at least: the critic maximises it."""
    return _wide(real_scores).mean() - _wide(fake_scores).mean()


def critic_loss(
    critic: ScoreFn,
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
    wasserstein = wasserstein_estimate(critic(real), critic(fake.detach()))
    gp = gradient_penalty(critic, real, fake, rng, alpha)
    return CriticLoss(-wasserstein + gp_weight * gp, wasserstein.detach(), gp.detach())


def generator_loss(critic: ScoreFn, fake: torch.Tensor) -> torch.Tensor:
    """−E[D(fake)]."""
    return -_wide(critic(fake)).mean()


def _wide(scores: torch.Tensor) -> torch.Tensor:
    """Scores in fp32 at least (fp64 stays fp64)."""
    return scores.to(torch.promote_types(scores.dtype, torch.float32))
