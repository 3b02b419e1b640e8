"""Maximum likelihood (--loss mle): an autoregressive language model trained by teacher forcing,
with no critic. Its loss is the cross-entropy of every position of the real lines, padding
included (so the model learns where lines end):

    L = −(1 / B·L) Σ_b Σ_t log p(x_{b,t} | x_{b,<t})   nats per character (÷ ln 2: bits)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from textgan.objectives.kinds import Loss


def cross_entropy(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy in nats (a 0-d fp32 tensor) of ids (B, L) under the logits
    (B, L, V) that predict them, position t's from the ids before t."""
    return F.cross_entropy(logits.float().flatten(0, 1), ids.flatten())  # (B·L, V) vs (B·L,)


def bits(nats: torch.Tensor | float) -> torch.Tensor | float:
    """A cross-entropy in nats, in bits."""
    return nats / math.log(2)


MLE = Loss(
    name="mle",
    summary="maximum likelihood: a character language model, no critic",
    critic_term=None,
    generator_term=None,
    needs_critic=False,
)
