"""The Wasserstein loss (WGAN): the critic maximises E[D(real)] − E[D(fake)], the generator
maximises E[D(fake)]."""

from __future__ import annotations

import torch


def critic_term(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[D(fake)] − E[D(real)]."""
    return -wasserstein_estimate(real_scores, fake_scores)


def generator_term(fake_scores: torch.Tensor) -> torch.Tensor:
    """−E[D(fake)]."""
    return -wide(fake_scores).mean()


def wasserstein_estimate(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[D(real)] − E[D(fake)], the critic's distance estimate, logged for every loss."""
    return wide(real_scores).mean() - wide(fake_scores).mean()


def wide(scores: torch.Tensor) -> torch.Tensor:
    """Scores in fp32 at least (fp64 stays fp64): the losses are never summed in bf16."""
    return scores.to(torch.promote_types(scores.dtype, torch.float32))
