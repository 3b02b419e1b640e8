"""The hinge loss (Lim & Ye 2017; Miyato et al. 2018, with spectral normalisation)."""

from __future__ import annotations

import torch

from textgan.objectives.wasserstein import wide


def critic_term(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[relu(1 − D(real))] + E[relu(1 + D(fake))]."""
    return torch.relu(1 - wide(real_scores)).mean() + torch.relu(1 + wide(fake_scores)).mean()


def generator_term(fake_scores: torch.Tensor) -> torch.Tensor:
    """−E[D(fake)]."""
    return -wide(fake_scores).mean()
