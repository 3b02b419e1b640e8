"""The generator run by hand: sampling without autograd, and its loss (−E[D(G(z))], or the
standard GAN's) with every parameter gradient, on the same channels-last matrix products as the
critic (residual.py)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from textgan.engines.fused.conv import copy_all
from textgan.engines.fused.critic import CriticWeights, score_and_input_grad
from textgan.engines.fused.residual import (
    StackBuffers,
    StackWeights,
    named_stack_grads,
    stack_backward,
    stack_forward,
    stack_weight_grads,
    wide,
)
from textgan.models.resnet import Generator
from textgan.objectives.losses import Objective


@dataclass(frozen=True)
class GeneratorWeights:
    """The generator's weights in the compute dtype and channels-last layouts; load() refreshes
    them."""

    fc: torch.Tensor  # (L·C, noise_dim): rows ordered (position, channel)
    fc_bias: torch.Tensor  # (L·C,)
    out: torch.Tensor  # (C, V): the last (k=1) conv
    out_bias: torch.Tensor  # (V,)
    stack: StackWeights
    copies: tuple[list[torch.Tensor], list[torch.Tensor]]

    @classmethod
    def of(
        cls, generator: Generator, dtype: torch.dtype, backward: bool = True, impl: str = "im2col"
    ) -> GeneratorWeights:
        """backward=False: without the stack's backward matrices (for sampling); impl: the conv
        implementation the stack's matrices are laid out for."""
        c = generator.config
        fc = generator.fc.weight.view(c.dim, c.seq_len, -1).transpose(0, 1)  # (L, C, noise_dim)
        fc_bias = generator.fc.bias.view(c.dim, c.seq_len).t()  # (L, C)
        sources = [p.detach() for p in (fc, fc_bias, generator.out.weight[0], generator.out.bias)]
        destinations = [torch.empty(s.shape, dtype=dtype, device=s.device) for s in sources]
        matrices = [destinations[0].flatten(0, 1), destinations[1].flatten(), *destinations[2:]]
        stack = StackWeights.of(generator.blocks, dtype, backward, impl)
        return cls(*matrices, stack, (destinations, sources)).load()

    def load(self) -> GeneratorWeights:
        """Copy the generator's current parameters in; returns self."""
        copy_all(*self.copies)
        self.stack.load()
        return self


def _last_hidden(weights: GeneratorWeights, z: torch.Tensor, buffers: StackBuffers):
    """(N, noise_dim) → the stack's output (N, L, C)."""
    length = weights.fc.shape[0] // weights.stack.forward[0].shape[1]
    h = F.linear(z.to(weights.fc.dtype), weights.fc, weights.fc_bias)  # (N, L·C)
    return stack_forward(h.view(z.shape[0], length, -1), weights.stack, buffers)


@torch.no_grad()
def generate(weights: GeneratorWeights, z: torch.Tensor, buffers: StackBuffers) -> torch.Tensor:
    """Noise (N, noise_dim) → softmax rows (N, L, V), fp32: what Generator.forward computes."""
    return torch.softmax(_logits(weights, _last_hidden(weights, z, buffers)), dim=-1)


def _logits(weights: GeneratorWeights, h: torch.Tensor) -> torch.Tensor:
    """The last (k=1) conv: (N, L, C) → (N, L, V), fp32."""
    n, length, channels = h.shape
    logits = torch.addmm(weights.out_bias, h.view(n * length, channels), weights.out)
    return logits.to(wide(logits.dtype)).view(n, length, -1)


@torch.no_grad()
def generator_loss_and_grads(
    generator: Generator,
    critic: CriticWeights,
    z: torch.Tensor,
    *,
    buffers: StackBuffers,
    critic_buffers: StackBuffers,
    weights: GeneratorWeights | None = None,
    objective: Objective | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The generator's loss (objective's generator term; by default −mean D(G(z))) and its
    gradient for every parameter, by name. buffers, critic_buffers: stack_buffers of the
    generator and the critic, B rows."""
    objective = objective if objective is not None else Objective()
    dtype = critic.embed.dtype
    weights = weights if weights is not None else GeneratorWeights.of(generator, dtype)
    batch = z.shape[0]
    h = _last_hidden(weights, z, buffers)  # (B, L, C)
    length, channels = h.shape[1:]
    fake = torch.softmax(_logits(weights, h), dim=-1)  # (B, L, V)
    scores, grad_fake = score_and_input_grad(critic, fake, objective.generator_term_grad,
                                             critic_buffers)  # fmt: skip
    # softmax backward, in fp32 (fp64 in fp64)
    grad_logits = fake * (grad_fake - (grad_fake * fake).sum(dim=-1, keepdim=True))  # (B, L, V)
    grad_rows = grad_logits.to(dtype).view(batch * length, -1)  # (B·L, V)
    grad_out = h.view(batch * length, channels).t() @ grad_rows  # (C, V)
    buffers.u(len(generator.blocks)).interior.copy_((grad_rows @ weights.out.t()).view_as(h))
    u0 = stack_backward(weights.stack, buffers).reshape(batch, length * channels)  # (B, L·C)
    convs = len(weights.stack.forward)
    conv_grads, bias_grads = stack_weight_grads(buffers, [slice(None)], convs)

    grad_fc = u0.t() @ z.to(dtype)  # (L·C, noise_dim), rows (position, channel)
    grad_fc_bias = u0.sum(0).unsqueeze(1)  # (L·C, 1)
    grads = {
        "fc.weight": _channels_first(grad_fc, length),
        "fc.bias": _channels_first(grad_fc_bias, length).flatten(),
    }
    grads |= named_stack_grads(conv_grads, bias_grads)
    grads["out.weight"] = grad_out.unsqueeze(0)  # the last (k=1) conv: (1, C, V)
    grads["out.bias"] = grad_logits.sum(dim=(0, 1))  # (V,)
    return objective.generator_term(scores), grads


def _channels_first(rows: torch.Tensor, length: int) -> torch.Tensor:
    """(L·C, ·) rows ordered (position, channel) → ordered (channel, position), as the
    generator's fc lays out its output."""
    return rows.view(length, -1, rows.shape[1]).transpose(0, 1).reshape(rows.shape)
