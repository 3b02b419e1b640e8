import math

import torch
from torch import nn

from textgan.config import ModelConfig
from textgan.models.resnet import (
    RESIDUAL_SCALE,
    ConvLayer,
    ResBlock,
    SampleNorm,
    build_models,
    init_weights,
)

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
    norms = (nn.BatchNorm1d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, SampleNorm)
    assert not any(isinstance(m, norms) for m in critic.modules())
    assert len(critic.blocks) == 3


def test_resblock_is_x_plus_scaled_branch() -> None:
    block = ResBlock(4)
    init_weights(block, torch.Generator().manual_seed(0))  # ConvLayer leaves weights to it
    x = torch.randn(2, 6, 4)  # (B, L, C)
    branch = block.conv2(torch.relu(block.conv1(torch.relu(x))))
    assert torch.allclose(block(x), x + RESIDUAL_SCALE * branch)


def test_conv_is_a_same_padded_conv1d_with_its_weight_stored_kernel_first() -> None:
    conv = ConvLayer(3, 4, 5)
    torch.nn.init.normal_(conv.weight)
    torch.nn.init.normal_(conv.bias)
    assert conv.weight.shape == (5, 3, 4)  # (kernel, in, out)
    reference = nn.Conv1d(3, 4, 5, padding=2)
    with torch.no_grad():
        reference.weight.copy_(conv.weight.permute(2, 1, 0))
        reference.bias.copy_(conv.bias)
    x = torch.randn(2, 9, 3)  # channels-last rows (B, L, C)
    assert torch.allclose(conv(x), reference(x.transpose(1, 2)).transpose(1, 2), atol=1e-6)
    assert conv(x).is_contiguous()  # rows in, rows out: nothing re-laid out
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = conv(x)
    assert low.dtype == torch.bfloat16
    assert torch.allclose(low.float(), reference(x.transpose(1, 2)).transpose(1, 2), atol=0.1)
    double = ConvLayer(3, 4, 5).double()
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast leaves float64 alone
        assert double(x.double()).dtype == torch.float64


def test_paper_initialisation() -> None:
    config = ModelConfig(vocab_size=11, seq_len=12, dim=256, n_blocks=1)
    generator, critic = build_models(config, seed=0)
    conv = generator.blocks[0].conv1.weight
    expected = math.sqrt(4.0 / (256 * 5 + 256 * 5))  # He-uniform as in tflib
    assert abs(conv.std().item() - expected) / expected < 0.02
    fc = critic.fc.weight
    expected_fc = math.sqrt(2.0 / (12 * 256 + 1))
    assert abs(fc.std().item() - expected_fc) / expected_fc < 0.05
    layers = [m for m in critic.modules() if isinstance(m, (ConvLayer, nn.Linear))]
    assert len(layers) == 1 + 2 + 1 and all((m.bias == 0).all() for m in layers)


def test_same_seed_same_weights() -> None:
    a, _ = build_models(CONFIG, seed=3)
    b, _ = build_models(CONFIG, seed=3)
    c, _ = build_models(CONFIG, seed=4)
    assert torch.equal(a.fc.weight, b.fc.weight)
    assert not torch.equal(a.fc.weight, c.fc.weight)


def test_layer_norm_critic_normalises_each_sample_and_scores_it_alone() -> None:
    config = ModelConfig(vocab_size=6, seq_len=10, dim=8, n_blocks=2, critic_norm="layer")
    _, critic = build_models(config, 0)
    outputs = []
    hooks = [block.norm1.register_forward_hook(lambda m, i, o: outputs.append(o))
             for block in critic.blocks]  # fmt: skip
    x = torch.softmax(torch.randn(5, 10, 6, generator=torch.Generator().manual_seed(0)), -1)
    scores = critic(x)
    for hook in hooks:
        hook.remove()
    assert len(outputs) == 2
    for out in outputs:  # gain 1 and bias 0 at init: the normalised activations themselves
        flat = out.flatten(1)  # (B, C·L)
        assert torch.allclose(flat.mean(1), torch.zeros(5), atol=1e-5)
        assert torch.allclose(flat.var(1, unbiased=False), torch.ones(5), atol=1e-3)
    assert torch.allclose(critic(x[2:3]), scores[2:3], atol=1e-5)  # no other sample matters
    others = torch.softmax(torch.randn(4, 10, 6), -1)
    assert torch.allclose(critic(torch.cat([x[2:3], others]))[0], scores[2], atol=1e-5)
    plain = build_models(ModelConfig(vocab_size=6, seq_len=10, dim=8, n_blocks=2), 0)[1]
    assert [n for n, _ in plain.named_parameters()] == [
        n for n, _ in critic.named_parameters() if ".norm" not in n
    ]
