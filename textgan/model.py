"""The paper's residual 1D-conv generator and critic (gan_language.py)."""

from __future__ import annotations

import math

import torch
from torch import nn

from textgan.config import ModelConfig

RESIDUAL_SCALE = 0.3


class _ReluGrad(torch.autograd.Function):
    """grad · 1[out > 0] for a detached out: differentiable in grad only, the mask is constant."""

    @staticmethod
    def forward(ctx, grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(out)
        return torch.ops.aten.threshold_backward(grad, out, 0)

    @staticmethod
    def backward(ctx, grad_grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (out,) = ctx.saved_tensors
        return _ReluGrad.apply(grad_grad, out), None


class _Relu(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(x)
        ctx.save_for_backward(out)
        ctx.set_materialize_grads(False)  # no gradient in: skip the backward, no zeros
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor | None) -> torch.Tensor | None:
        if grad is None:
            return None
        (out,) = ctx.saved_tensors
        # out detached: the second-order pass must not flow back into the forward graph
        return _ReluGrad.apply(grad, out.detach())


def relu(x: torch.Tensor) -> torch.Tensor:
    """ReLU with the same values, gradients and second derivatives as F.relu, made cheaper.

    Autograd's double backward of F.relu returns zeros for its input, and then runs a full
    backward of the forward pass on those zeros. Here the backward's mask is a constant, so the
    gradient penalty's second-order pass skips that dead branch (about 25% of a critic step);
    forward and backward are relu's own fused kernels.
    """
    return _Relu.apply(x)


class ResBlock(nn.Module):
    """x + 0.3 · conv(relu(conv(relu(x)))), both convs k=5 with same padding."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(dim, dim, 5, padding=2)
        self.conv2 = nn.Conv1d(dim, dim, 5, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, dim, L) → (B, dim, L)
        h = self.conv2(relu(self.conv1(relu(x))))
        return torch.add(x, h, alpha=RESIDUAL_SCALE)


class Generator(nn.Module):
    """Noise (B, noise_dim) → softmax over the vocabulary at every position (B, L, V)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.fc = nn.Linear(config.noise_dim, config.seq_len * config.dim)
        self.blocks = nn.Sequential(*(ResBlock(config.dim) for _ in range(config.n_blocks)))
        self.out = nn.Conv1d(config.dim, config.vocab_size, 1)

    def logits(self, z: torch.Tensor) -> torch.Tensor:  # (B, noise_dim) → (B, L, V)
        c = self.config
        h = self.fc(z).view(-1, c.dim, c.seq_len)  # (B, dim, L)
        return self.out(self.blocks(h)).transpose(1, 2)  # (B, L, V)

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, noise_dim) → (B, L, V)
        return torch.softmax(self.logits(z).float(), dim=-1)


class Critic(nn.Module):
    """(Soft) one-hot sequences (B, L, V) → one unbounded score per sequence (B,)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.inp = nn.Conv1d(config.vocab_size, config.dim, 1)
        self.blocks = nn.Sequential(*(ResBlock(config.dim) for _ in range(config.n_blocks)))
        self.fc = nn.Linear(config.seq_len * config.dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, V) → (B,)
        h = self.blocks(self.inp(x.transpose(1, 2)))  # (B, dim, L)
        return self.fc(h.flatten(1)).squeeze(1)


def init_weights(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """The paper's initialisation (tflib): uniform, zero biases.

    Convs: He-style std sqrt(4 / (fan_in + fan_out)), fans counted with the kernel width;
    linear layers: Glorot std sqrt(2 / (fan_in + fan_out)). Uniform(-std·√3, std·√3).
    """
    for layer in module.modules():
        if isinstance(layer, nn.Conv1d):
            k = layer.kernel_size[0]
            std = math.sqrt(4.0 / (layer.in_channels * k + layer.out_channels * k))
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
