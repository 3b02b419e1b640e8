"""The Wasserstein terms: the signs of the critic's and the generator's losses."""

import math

import pytest
import torch
from conftest import linear_critic, one_hot_batch, simplex_batch

from textgan.objectives.losses import critic_loss, generator_loss


def test_loss_signs() -> None:
    weight = torch.ones(2, 3)
    critic = linear_critic(weight)  # D(x) = number of positions = 2 for any simplex rows
    fake = simplex_batch(4, 2, 3, 0)
    assert generator_loss(critic, fake).item() == pytest.approx(-2.0)
    real = one_hot_batch(4, 2, 3, 1)
    parts = critic_loss(critic, real, fake, gp_weight=0.0)
    assert parts.wasserstein.item() == pytest.approx(0.0, abs=1e-6)
    gp = parts.gp.item()
    assert gp == pytest.approx((math.sqrt(6) - 1) ** 2, rel=1e-6)
