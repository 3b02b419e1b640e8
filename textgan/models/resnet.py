"""The paper's residual 1D-conv generator and critic (gan_language.py)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from textgan.config import ModelConfig
from textgan.runtime.device import at_least_fp32

RESIDUAL_SCALE = 0.3


class ConvLayer(nn.Module):
    """A same-padded 1D convolution of channels-last rows (B, L, C_in) → (B, L, C_out), its
    weight stored (kernel, in, out).

    That is the layout of the im2col products the fused engine runs (engines/fused/conv.py:
    im2col (N·L, K·C_in) @ weight.view(K·C_in, C_out)), so they re-lay out no weights or
    gradients. Here rows (B, L, C) are a (B, C, 1, L) image in channels-last memory, which
    conv2d (oneDNN on CPU, cuDNN on CUDA) takes as it is: no activation is re-laid out, forward
    or backward, and the weight is cast and laid out once per call.
    """

    spectral_norm_dim = 2  # the weight's output dim: spectral norm takes the (out, K·in) matrix

    def __init__(self, in_channels: int, out_channels: int, kernel: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(kernel, in_channels, out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    @property
    def kernel(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, C_in) → (B, L, C_out)
        weight = self.weight.permute(2, 1, 0).unsqueeze(2)  # (C_out, C_in, 1, K)
        weight = weight.to(_compute_dtype(self.weight, x.device), memory_format=torch.channels_last)
        image = x.transpose(1, 2).unsqueeze(2)  # (B, C_in, 1, L), channels-last strides
        out = F.conv2d(image, weight, self.bias, padding=(0, self.kernel // 2))
        return out.squeeze(2).transpose(1, 2)  # (B, L, C_out)


def _compute_dtype(weight: torch.Tensor, device: torch.device) -> torch.dtype:
    """The dtype a product with an fp32 weight runs in under autocast, else the weight's own."""
    if weight.dtype == torch.float32 and torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return weight.dtype


class SampleNorm(nn.Module):
    """Layer normalisation of channels-last rows (B, L, C): each sample over all its positions
    and channels, then a learned gain and bias per channel (GroupNorm with one group, on rows)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, C) → (B, L, C)
        normalised = F.layer_norm(x, x.shape[1:], eps=self.eps)
        return torch.addcmul(self.bias, normalised, self.weight)


class ResBlock(nn.Module):
    """x + 0.3 · conv(relu(conv(relu(x)))), both convs k=5 with same padding, on rows (B, L, C).

    norm="layer": x + 0.3 · conv(relu(norm(conv(relu(norm(x)))))), each norm normalising a
    sample over all its channels and positions, with a learned gain and bias per channel (the
    paper's ResNets' replacement for batch norm in the critic: no sample sees another)."""

    def __init__(self, dim: int, norm: str = "none") -> None:
        super().__init__()
        self.conv1 = ConvLayer(dim, dim, 5)
        self.conv2 = ConvLayer(dim, dim, 5)
        layer = norm == "layer"
        self.norm1 = SampleNorm(dim) if layer else nn.Identity()
        self.norm2 = SampleNorm(dim) if layer else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, dim) → (B, L, dim)
        h = self.conv1(torch.relu(self.norm1(x)))
        h = self.conv2(torch.relu(self.norm2(h)))
        return torch.add(x, h, alpha=RESIDUAL_SCALE)


class Generator(nn.Module):
    """Noise (B, noise_dim) → softmax over the vocabulary at every position (B, L, V)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.noise_dim = config.noise_dim
        self.fc = nn.Linear(config.noise_dim, config.seq_len * config.dim)
        self.blocks = nn.Sequential(*(ResBlock(config.dim) for _ in range(config.n_blocks)))
        self.out = ConvLayer(config.dim, config.vocab_size, 1)

    def logits(self, z: torch.Tensor) -> torch.Tensor:  # (B, noise_dim) → (B, L, V)
        c = self.config
        h = self.fc(z).view(-1, c.dim, c.seq_len).transpose(1, 2)  # (B, L, dim); fc: (dim, L)
        return self.out(self.blocks(h))  # (B, L, V)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, noise_dim) → (B, L, V)
        logits = self.logits(z)
        return torch.softmax(at_least_fp32(logits), dim=-1)


class Critic(nn.Module):
    """(Soft) one-hot sequences (B, L, V) → one unbounded score per sequence (B,); its residual
    blocks normalise as config.critic_norm says ("none": the paper's critic, no norm)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.inp = ConvLayer(config.vocab_size, config.dim, 1)
        blocks = (ResBlock(config.dim, config.critic_norm) for _ in range(config.n_blocks))
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(config.seq_len * config.dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, V) → (B,)
        h = self.blocks(self.inp(x))  # (B, L, dim)
        return self.fc(h.transpose(1, 2).flatten(1)).squeeze(1)  # fc reads (dim, L), the paper's


def init_weights(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """The paper's initialisation (tflib): uniform, zero biases.

    Convs: He-style std sqrt(4 / (fan_in + fan_out)), fans counted with the kernel width;
    linear layers: Glorot std sqrt(2 / (fan_in + fan_out)). Uniform(-std·√3, std·√3).
    """
    for layer in module.modules():
        if isinstance(layer, ConvLayer):
            k, c_in, c_out = layer.weight.shape
            std = math.sqrt(4.0 / (c_in * k + c_out * k))
        elif isinstance(layer, nn.Linear):
            std = math.sqrt(2.0 / (layer.in_features + layer.out_features))
        else:
            continue
        bound = std * math.sqrt(3.0)
        nn.init.uniform_(layer.weight, -bound, bound, generator=generator)
        nn.init.zeros_(layer.bias)


def build_models(config: ModelConfig, seed: int) -> tuple[Generator, Critic]:
    """A generator and a critic with the paper's initialisation, reproducible from seed."""
    rng = torch.Generator().manual_seed(seed)
    generator, critic = Generator(config), Critic(config)
    init_weights(generator, rng)
    init_weights(critic, rng)
    return generator, critic
