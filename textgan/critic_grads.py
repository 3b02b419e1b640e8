"""The critic's WGAN-GP loss and its parameter gradients, derived by hand (no autograd).

The same loss as losses.critic_loss, D(fake) − D(real) + λ·E[(‖∇x̂ D(x̂)‖₂ − 1)²], computed as
matrix products on channels-last activations:

1. one forward over [real; fake; x̂] (3B rows): scores and ReLU masks;
2. one backward over the 3B rows from the head's weights. It is ∇x̂ D for the x̂ rows and, with
   the upstream scaled by ∓1/B, the Wasserstein term's backward for the others;
3. the penalty's adjoint pushed back through the x̂ rows' backward (residual.stack_second_order);
4. each weight gradient as one product over all 3B rows.

Autograd would also differentiate through the x̂ forward, whose only effect on the penalty is
through the ReLU masks (zero derivative); here that work is not done at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textgan.gemm_conv import copy_all
from textgan.losses import GRAD_NORM_EPS, CriticLoss
from textgan.model import Critic
from textgan.residual import (
    StackBuffers,
    StackWeights,
    stack_backward,
    stack_buffers,
    stack_forward,
    stack_second_order,
    stack_weight_grads,
    wide,
)


@dataclass(frozen=True)
class CriticWeights:
    """The critic's weights in the compute dtype and matrix layouts; load() refreshes them."""

    embed: torch.Tensor  # (V, C): the first (k=1) conv, h0 = x @ embed + embed_bias
    embed_bias: torch.Tensor  # (C,)
    head: torch.Tensor  # (L, C): score = Σ h ⊙ head + head_bias
    head_bias: torch.Tensor  # (), fp32
    stack: StackWeights
    copies: tuple[list[torch.Tensor], list[torch.Tensor]]

    @classmethod
    def of(cls, critic: Critic, dtype: torch.dtype) -> CriticWeights:
        c = critic.config
        head = critic.fc.weight.view(c.dim, c.seq_len).t()  # (L, C)
        sources = [p.detach() for p in (critic.inp.weight[0], critic.inp.bias, head)]
        destinations = [torch.empty(s.shape, dtype=dtype, device=s.device) for s in sources]
        sources.append(critic.fc.bias.detach()[0])
        destinations.append(torch.empty((), dtype=wide(dtype), device=sources[-1].device))
        stack = StackWeights.of(critic.blocks, dtype)
        return cls(*destinations, stack, (destinations, sources)).load()

    def load(self) -> CriticWeights:
        """Copy the critic's current parameters in; returns self."""
        copy_all(*self.copies)
        self.stack.load()
        return self


def score_and_input_grad(
    weights: CriticWeights, x: torch.Tensor, scale: float, buffers: StackBuffers
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (N,) of soft one-hot rows x (N, L, V), and d(scale · Σ scores)/dx (N, L, V), fp32."""
    n, length, vocab = x.shape
    h = _embed_soft(weights, x.to(weights.embed.dtype))  # (N, L, C)
    h = stack_forward(h, weights.stack, buffers)
    scores = _scores(weights, h)  # (N,)
    buffers.upstream.copy_(weights.head * scale)
    u0 = stack_backward(weights.stack, buffers)  # (N, L, C)
    grad = u0.reshape(n * length, -1) @ weights.embed.t()  # (N·L, V)
    return scores, grad.to(scores.dtype).view(n, length, vocab)


@torch.no_grad()
def critic_loss_and_grads(
    critic: Critic,
    real_ids: torch.Tensor,
    fake: torch.Tensor,
    alpha: torch.Tensor,
    gp_weight: float,
    dtype: torch.dtype = torch.float32,
    buffers: StackBuffers | None = None,
    weights: CriticWeights | None = None,
) -> CriticLoss:
    """Set every critic parameter's .grad to d(critic loss)/d(parameter) and return the
    loss parts. real_ids (B, L), fake (B, L, V) soft one-hot, alpha (B,) fp32.

    buffers: stack_buffers(critic, 3B, dtype); weights: the critic's current weights
    (CriticWeights.of(critic, dtype), or one refreshed by load()); both made when not given."""
    batch, length = real_ids.shape
    weights = weights if weights is not None else CriticWeights.of(critic, dtype)
    if buffers is None:
        buffers = stack_buffers(critic, 3 * batch, dtype)
    fake = fake.to(wide(dtype))
    # x̂ = real + α·(fake − real) = α·fake + (1 − α) at each real id
    x_hat = fake * alpha.view(-1, 1, 1)  # (B, L, V)
    x_hat.scatter_add_(2, real_ids.unsqueeze(2), (1 - alpha).view(-1, 1, 1).expand(-1, length, 1))
    soft = torch.cat([fake, x_hat]).to(dtype)  # (2B, L, V)
    real_h0 = weights.embed[real_ids] + weights.embed_bias  # one-hot rows: a lookup
    h = torch.cat([real_h0, _embed_soft(weights, soft)])  # (3B, L, C)
    h = stack_forward(h, weights.stack, buffers)
    scores = _scores(weights, h[: 2 * batch])  # (2B,)
    wasserstein = scores[:batch].mean() - scores[batch:].mean()

    # upstream: ∓1/B·head for the Wasserstein rows; head for x̂, whose backward is ∇x̂ D
    scale = torch.ones(3 * batch, 1, 1, dtype=dtype, device=h.device)
    scale[:batch], scale[batch : 2 * batch] = -1.0 / batch, 1.0 / batch
    buffers.upstream.copy_(weights.head * scale)
    u0 = stack_backward(weights.stack, buffers).reshape(3 * batch * length, -1)  # (3B·L, C)
    x_rows = slice(2 * batch * length, 3 * batch * length)
    grad_x = (u0[x_rows] @ weights.embed.t()).to(fake.dtype).view(batch, length, -1)  # (B, L, V)
    norms = torch.sqrt(grad_x.square().sum(dim=(1, 2)) + GRAD_NORM_EPS)  # (B,)
    gp = (norms - 1).square().mean()

    # the penalty's adjoint, δx = λ·dGP/d∇x̂, back through the x̂ rows' backward
    delta_x = grad_x * (gp_weight * 2 / batch * (norms - 1) / norms).view(-1, 1, 1)
    soft[batch:] = delta_x.to(dtype)  # x̂ is no longer needed: its rows now hold δx
    delta = (soft[batch:] @ weights.embed).contiguous()  # (B, L, C)
    delta = stack_second_order(delta, weights.stack, buffers, slice(2 * batch, 3 * batch))

    conv_grads, bias_grads = stack_weight_grads(
        weights.stack, buffers, [slice(0, batch), slice(batch, 2 * batch)]
    )
    _set_grads(critic, real_ids, soft, h, u0, conv_grads, bias_grads, delta)
    return CriticLoss(-wasserstein + gp_weight * gp, wasserstein, gp)


def _scores(weights: CriticWeights, h: torch.Tensor) -> torch.Tensor:
    """The head on the stack's output (N, L, C) → (N,), fp32."""
    wide_dtype = weights.head_bias.dtype
    return h.flatten(1).to(wide_dtype) @ weights.head.flatten().to(wide_dtype) + weights.head_bias


def _embed_soft(weights: CriticWeights, x: torch.Tensor) -> torch.Tensor:
    """The first layer on soft rows: (N, L, V) → (N, L, C)."""
    n, length, vocab = x.shape
    flat = torch.addmm(weights.embed_bias, x.reshape(n * length, vocab), weights.embed)
    return flat.view(n, length, -1)


def _set_grads(
    critic: Critic,
    real_ids: torch.Tensor,
    soft: torch.Tensor,
    h: torch.Tensor,
    u0: torch.Tensor,
    conv_grads: list[torch.Tensor],
    bias_grads: list[torch.Tensor],
    delta_top: torch.Tensor,
) -> None:
    """Gather the gradients into .grad in the modules' layouts (fp32)."""
    batch, length = real_ids.shape
    real_rows, soft_rows = slice(0, batch * length), slice(batch * length, None)
    # first layer: one-hot real rows add u0 at their ids; fake and δx rows are a product
    grad_dtype = critic.inp.weight.dtype
    embed = (soft.reshape(-1, soft.shape[-1]).t() @ u0[soft_rows]).to(grad_dtype)  # (V, C)
    embed.index_add_(0, real_ids.flatten(), u0[real_rows].to(grad_dtype))
    critic.inp.weight.grad = embed.unsqueeze(0)  # (1, V, C)
    critic.inp.bias.grad = u0[: 2 * batch * length].sum(0).to(grad_dtype)
    convs = [conv for block in critic.blocks for conv in (block.conv1, block.conv2)]
    for conv, weight_grad, bias_grad in zip(convs, conv_grads, bias_grads, strict=True):
        conv.weight.grad, conv.bias.grad = weight_grad, bias_grad
    # head: mean h(fake) − mean h(real) from the Wasserstein term, Σ δ from the penalty
    head = (
        h[batch : 2 * batch].mean(0, dtype=grad_dtype)
        - h[:batch].mean(0, dtype=grad_dtype)
        + delta_top.sum(0, dtype=grad_dtype)
    )  # (L, C)
    critic.fc.weight.grad = head.t().reshape(1, -1).contiguous()  # (1, C·L)
    critic.fc.bias.grad = torch.zeros_like(critic.fc.bias)  # Σ of ∓1/B over the batch
