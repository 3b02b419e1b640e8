"""Weight clipping and spectral normalisation of the critic."""

import pytest
import torch
from torch import nn

from textgan.config import ModelConfig
from textgan.models.resnet import ConvLayer, build_models
from textgan.objectives.constraints import clip_weights, spectral_normalize, weight_matrix

CONFIG = ModelConfig(vocab_size=7, seq_len=8, dim=12, n_blocks=2)


def test_clipping_keeps_every_parameter_in_bounds() -> None:
    _, critic = build_models(CONFIG, 0)
    with torch.no_grad():
        for p in critic.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    inside = {name: p.detach().clone() for name, p in critic.named_parameters()}
    clip_weights(critic, 0.05)
    for name, p in critic.named_parameters():
        assert p.abs().max() <= 0.05, name
        small = inside[name].abs() <= 0.05  # values inside the bounds are untouched
        assert torch.equal(p[small], inside[name][small]), name
        assert (p.abs() == 0.05).any() or not (~small).any(), name


def spectral_norms(critic: nn.Module) -> dict[str, float]:
    """The largest singular value of each normalised weight's (out, kernel·in) matrix."""
    norms = {}
    for name, layer in critic.named_modules():
        if isinstance(layer, ConvLayer | nn.Linear):
            dim = 2 if isinstance(layer, ConvLayer) else 0
            matrix = weight_matrix(layer.weight.detach(), dim)
            norms[name] = torch.linalg.matrix_norm(matrix, ord=2).item()
    return norms


def test_spectral_norm_keeps_each_weight_near_one_and_uses_the_conv_layout() -> None:
    _, critic = build_models(CONFIG, 0)
    before = spectral_norms(critic)
    spectral_normalize(critic, seed=3)
    for name, layer in critic.named_modules():
        if isinstance(layer, ConvLayer):  # (kernel, in, out): normalise (out, kernel·in)
            assert layer.parametrizations.weight[0].dim == 2, name
    optimizer = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))  # the paper's
    x = torch.softmax(torch.randn(16, CONFIG.seq_len, CONFIG.vocab_size), dim=-1)
    for _ in range(5):  # a few training steps: one power iteration per training forward
        optimizer.zero_grad()
        critic(x).mean().backward()
        optimizer.step()
    critic.eval()
    after = spectral_norms(critic)
    assert any(abs(v - 1) > 0.2 for v in before.values())  # unnormalised weights are not at 1
    for name, value in after.items():
        assert value == pytest.approx(1.0, rel=0.05), name


def test_spectral_norm_starting_vectors_come_from_the_seed() -> None:
    def normalised(seed: int) -> torch.Tensor:
        _, critic = build_models(CONFIG, 0)
        spectral_normalize(critic, seed)
        return critic.blocks[0].conv1.parametrizations.weight[0]._u.clone()

    torch.manual_seed(123)
    first = normalised(5)
    torch.manual_seed(456)  # the global generator does not matter
    assert torch.equal(first, normalised(5))
    assert not torch.equal(first, normalised(6))
