import math

import torch
from torch import nn

from textgan.config import ModelConfig
from textgan.model import RESIDUAL_SCALE, ResBlock, build_models, relu

CONFIG = ModelConfig(vocab_size=11, seq_len=12, dim=16, n_blocks=3, noise_dim=128)


def test_shapes_and_generator_rows_are_distributions(device: torch.device) -> None:
    generator, critic = (m.to(device) for m in build_models(CONFIG, seed=0))
    z = torch.randn(4, 128, device=device)
    probs = generator(z)
    assert probs.shape == (4, 12, 11)
    assert (probs >= 0).all()
    assert torch.allclose(probs.sum(-1), torch.ones(4, 12, device=device), atol=1e-5)
    assert critic(probs).shape == (4,)


def test_paper_defaults() -> None:
    config = ModelConfig(vocab_size=100)
    assert (config.seq_len, config.dim, config.n_blocks, config.noise_dim) == (32, 512, 5, 128)


def test_critic_has_no_normalisation_layers() -> None:
    _, critic = build_models(CONFIG, seed=0)
    norms = (nn.BatchNorm1d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d)
    assert not any(isinstance(m, norms) for m in critic.modules())
    assert len(critic.blocks) == 3


def test_resblock_is_x_plus_scaled_branch() -> None:
    block = ResBlock(4)
    x = torch.randn(2, 4, 6)
    branch = block.conv2(torch.relu(block.conv1(torch.relu(x))))  # F.relu, not the masked one
    assert torch.allclose(block(x), x + RESIDUAL_SCALE * branch)


def test_masked_relu_has_relu_values_gradients_and_second_derivatives() -> None:
    weight = torch.randn(6, 6, dtype=torch.float64)

    def grad_norm_loss(activation) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
        x.requires_grad_(True)
        w = weight.clone().requires_grad_(True)
        y = activation(x @ w).square().sum()
        (gx,) = torch.autograd.grad(y, x, create_graph=True)
        (gw,) = torch.autograd.grad(gx.square().sum(), w)
        return activation(x @ w), gw

    plain, masked = grad_norm_loss(torch.relu), grad_norm_loss(relu)
    assert torch.equal(plain[0], masked[0])
    assert torch.allclose(plain[1], masked[1], rtol=1e-12)


def test_paper_initialisation() -> None:
    config = ModelConfig(vocab_size=11, seq_len=12, dim=256, n_blocks=1)
    generator, critic = build_models(config, seed=0)
    conv = generator.blocks[0].conv1.weight
    expected = math.sqrt(4.0 / (256 * 5 + 256 * 5))  # He-uniform as in tflib
    assert abs(conv.std().item() - expected) / expected < 0.02
    fc = critic.fc.weight
    expected_fc = math.sqrt(2.0 / (12 * 256 + 1))
    assert abs(fc.std().item() - expected_fc) / expected_fc < 0.05
    assert all(
        (m.bias == 0).all() for m in critic.modules() if isinstance(m, (nn.Conv1d, nn.Linear))
    )


def test_same_seed_same_weights() -> None:
    a, _ = build_models(CONFIG, seed=3)
    b, _ = build_models(CONFIG, seed=3)
    c, _ = build_models(CONFIG, seed=4)
    assert torch.equal(a.fc.weight, b.fc.weight)
    assert not torch.equal(a.fc.weight, c.fc.weight)
