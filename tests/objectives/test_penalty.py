"""The gradient penalty: where x̂ lies, the norm's axes, two-sidedness, its gradient."""

import pytest
import torch
from conftest import linear_critic, one_hot_batch, simplex_batch

from textgan.config import ModelConfig
from textgan.models.resnet import Critic, build_models
from textgan.objectives.penalty import gradient_penalty, interpolate


def test_interpolation_endpoints_simplex_and_per_sample_alpha() -> None:
    real, fake = one_hot_batch(6, 4, 5, 0), simplex_batch(6, 4, 5, 1)
    assert torch.equal(interpolate(real, fake, torch.zeros(6)), real)
    assert torch.allclose(interpolate(real, fake, torch.ones(6)), fake, atol=1e-6)
    alpha = torch.linspace(0.05, 0.95, 6)
    x_hat = interpolate(real, fake, alpha)
    assert (x_hat >= 0).all()
    assert torch.allclose(x_hat.sum(-1), torch.ones(6, 4))
    # every position of sample i sits at the same fraction alpha[i] of the way real → fake
    for i in range(6):
        moved = (x_hat[i] - real[i])[(fake[i] - real[i]).abs() > 1e-3]
        ratio = moved / (fake[i] - real[i])[(fake[i] - real[i]).abs() > 1e-3]
        assert torch.allclose(ratio, torch.full_like(ratio, alpha[i].item()), atol=1e-5)


def test_alpha_differs_between_samples_and_is_shared_by_positions() -> None:
    real, fake = torch.zeros(8, 5, 3), torch.ones(8, 5, 3)
    seen = {}

    def spy(x: torch.Tensor) -> torch.Tensor:
        seen["x"] = x.detach().clone()
        return x.sum(dim=(1, 2))

    gradient_penalty(spy, real, fake, torch.Generator().manual_seed(0))
    x_hat = seen["x"]  # = alpha broadcast, since real = 0 and fake = 1
    per_sample = x_hat[:, 0, 0]
    assert torch.allclose(x_hat, per_sample.view(8, 1, 1).expand_as(x_hat))
    assert len(set(per_sample.tolist())) == 8
    assert ((per_sample > 0) & (per_sample < 1)).all()


def test_penalty_of_a_linear_critic_is_norm_minus_one_squared() -> None:
    weight = torch.randn(7, 11, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    real, fake = (
        one_hot_batch(5, 7, 11, 0, torch.float64),
        simplex_batch(5, 7, 11, 1, torch.float64),
    )
    gp = gradient_penalty(linear_critic(weight), real, fake, torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx((weight.norm().item() - 1) ** 2, abs=1e-6)


def test_norm_is_over_positions_and_vocabulary_together() -> None:
    # ‖W‖ over all entries is exactly 1, so the paper's penalty is 0; a per-position norm
    # (0.6 and 0.8) or a norm over one axis only would give a clearly positive penalty.
    weight = torch.tensor([[0.6, 0.0], [0.0, 0.8]], dtype=torch.float64)
    real, fake = one_hot_batch(4, 2, 2, 0, torch.float64), simplex_batch(4, 2, 2, 1, torch.float64)
    gp = gradient_penalty(linear_critic(weight), real, fake)
    assert gp.item() == pytest.approx(0.0, abs=1e-10)
    per_position = ((weight.norm(dim=1) - 1) ** 2).mean().item()
    per_vocab = ((weight.norm(dim=0) - 1) ** 2).mean().item()
    assert per_position > 0.02 and per_vocab > 0.02


def test_penalty_is_two_sided() -> None:
    real, fake = one_hot_batch(3, 2, 2, 0, torch.float64), simplex_batch(3, 2, 2, 1, torch.float64)
    small = gradient_penalty(
        linear_critic(torch.full((2, 2), 0.25, dtype=torch.float64)), real, fake
    )
    large = gradient_penalty(
        linear_critic(torch.full((2, 2), 1.0, dtype=torch.float64)), real, fake
    )
    assert small.item() == pytest.approx(0.25, abs=1e-9)  # ‖W‖ = 0.5
    assert large.item() == pytest.approx(1.0, abs=1e-9)  # ‖W‖ = 2


def tiny_critic(dtype=torch.float64) -> Critic:
    _, critic = build_models(ModelConfig(vocab_size=5, seq_len=6, dim=8, n_blocks=2), seed=0)
    return critic.to(dtype)


def test_penalty_trains_the_critic_and_matches_finite_differences() -> None:
    critic = tiny_critic()
    real, fake = one_hot_batch(4, 6, 5, 0, torch.float64), simplex_batch(4, 6, 5, 1, torch.float64)

    def penalty() -> torch.Tensor:
        return gradient_penalty(critic, real, fake, torch.Generator().manual_seed(7))

    param = critic.blocks[0].conv1.weight
    (grad,) = torch.autograd.grad(penalty(), param)
    assert grad.abs().sum() > 0
    for index in [(0, 0, 0), (2, 5, 3), (4, 1, 7)]:  # (kernel, in, out)
        eps = 1e-6
        param.data[index] += eps
        plus = penalty().item()
        param.data[index] -= 2 * eps
        minus = penalty().item()
        param.data[index] += eps
        assert grad[index].item() == pytest.approx((plus - minus) / (2 * eps), rel=1e-4, abs=1e-8)
