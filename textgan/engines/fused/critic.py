"""The critic's loss, with its gradient penalty if any, and its parameter gradients, derived by
hand (no autograd).

The same loss as objectives.losses.critic_loss, the loss term (Wasserstein D(fake) − D(real),
the standard GAN's or the hinge) + λ·P with P the two-sided E[(‖∇x̂ D(x̂)‖₂ − 1)²] or the
one-sided penalty, computed as matrix products on channels-last activations (without a penalty,
only the real and fake rows, 2B, are run):

1. one forward over [real; fake; x̂] (3B rows): scores and ReLU masks;
2. one backward over the 3B rows from the head's weights. It is ∇x̂ D for the x̂ rows and, with
   each row's upstream scaled by the loss term's derivative by its score (∓1/B for the
   Wasserstein loss), the loss term's backward for the others;
3. the penalty's adjoint pushed back through the x̂ rows' backward (residual.stack_second_order);
4. each weight gradient as one product over all 3B rows.

The last conv is folded into the head (see CriticWeights): it runs once per step on the head, not
on the rows. Autograd would also differentiate through the x̂ forward, whose only effect on the
penalty is through the ReLU masks (zero derivative); here that work is not done at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from textgan.engines.fused.conv import Im2col, Padded, copy_all
from textgan.engines.fused.residual import (
    StackBuffers,
    StackWeights,
    mask_into,
    named_stack_grads,
    stack_backward,
    stack_buffers,
    stack_forward,
    stack_second_order,
    stack_weight_grads,
    wide,
)
from textgan.models.resnet import RESIDUAL_SCALE, Critic
from textgan.objectives.losses import CriticLoss, Objective
from textgan.objectives.wasserstein import wasserstein_estimate


@dataclass(frozen=True)
class CriticWeights:
    """The critic's weights in the compute dtype and matrix layouts; load() refreshes them.

    The score is linear in the last conv's output, so that conv is folded into the head:
    ⟨h + 0.3·(conv2(r2) + b2), head⟩ = ⟨h, head⟩ + ⟨r2, G⟩ + const, with G = 0.3·conv2ᵀ(head) one
    (L, C) matrix; the last conv never runs on the rows."""

    embed: torch.Tensor  # (V, C): the first (k=1) conv, h0 = x @ embed + embed_bias
    embed_bias: torch.Tensor  # (C,)
    head: torch.Tensor  # (L, C): score = Σ h ⊙ head + head_bias
    head_bias: torch.Tensor  # (), wide dtype
    stack: StackWeights
    copies: tuple[list[torch.Tensor], list[torch.Tensor]]
    padded_head: Padded  # (1, L + 2·pad, C): head in its interior
    folded: Padded  # (1, L + 2·pad, C): G in its interior
    const: torch.Tensor  # (), wide dtype: 0.3·⟨b2, Σ_t head_t⟩ + head_bias
    cols: Im2col  # for the one-row convs of the head: conv2ᵀ(head), and in its gradient

    @classmethod
    def of(cls, critic: Critic, dtype: torch.dtype, impl: str = "im2col") -> CriticWeights:
        """impl: the conv implementation the stack's matrices are laid out for."""
        c, k, device = critic.config, critic.blocks[0].conv1.kernel, critic.fc.weight.device
        padded_head = Padded.zeros(1, c.seq_len, c.dim, k, dtype, device)
        folded = Padded.zeros(1, c.seq_len, c.dim, k, dtype, device)
        head = critic.fc.weight.view(c.dim, c.seq_len).t()  # (L, C)
        sources = [p.detach() for p in (critic.inp.weight[0], critic.inp.bias, head)]
        destinations = [torch.empty(s.shape, dtype=dtype, device=device) for s in sources[:2]]
        destinations.append(padded_head.interior[0])
        sources.append(critic.fc.bias.detach()[0])
        destinations.append(torch.empty((), dtype=wide(dtype), device=device))
        stack = StackWeights.of(critic.blocks, dtype, impl=impl)
        const = torch.empty((), dtype=wide(dtype), device=device)
        cols = Im2col(c.seq_len, k * c.dim, dtype, device)
        weights = cls(*destinations, stack, (destinations, sources), padded_head, folded, const,
                      cols)  # fmt: skip
        return weights.load()

    def load(self) -> CriticWeights:
        """Copy the critic's current parameters in; returns self."""
        copy_all(*self.copies)
        self.stack.load()
        g = self.cols(self.padded_head) @ self.stack.backward[-1]  # 0.3 is in the matrix
        self.folded.interior[0] = g  # (L, C)
        bias_term = self.stack.biases[-1].to(self.const.dtype) @ self.head.sum(
            0, dtype=self.const.dtype
        )
        torch.add(self.head_bias, bias_term, alpha=RESIDUAL_SCALE, out=self.const)
        return self

    @property
    def last(self) -> tuple[int, int]:
        """The indices of the last block's two convs (their ReLU'd inputs in the buffers)."""
        convs = len(self.stack.forward)
        return convs - 2, convs - 1

    def scores(self, h: torch.Tensor, buffers: StackBuffers, rows: slice) -> torch.Tensor:
        """(M,) in the wide dtype, for rows of h (the last block's input) and the last ReLU."""
        wide_dtype = self.const.dtype
        r2 = buffers.input(self.last[1]).buffer[rows].flatten(1)  # (M, T·C), zero pads
        direct = h[rows].flatten(1).to(wide_dtype) @ self.head.flatten().to(wide_dtype)
        folded = r2.to(wide_dtype) @ self.folded.buffer.flatten().to(wide_dtype)
        return direct + folded + self.const


def critic_forward(weights: CriticWeights, h: torch.Tensor, buffers: StackBuffers) -> torch.Tensor:
    """h0 (N, L, C) → the last block's input (N, L, C), updated in place; the last block's two
    ReLUs go to their buffers (the last conv itself is folded into the head, see CriticWeights)."""
    blocks = len(weights.stack.forward) // 2
    h = stack_forward(h, weights.stack.first(blocks - 1), buffers)
    relu1, relu2 = buffers.input(2 * blocks - 2), buffers.input(2 * blocks - 1)
    torch.clamp_min(h, 0, out=relu1.interior)
    conv1 = buffers.conv(relu1, weights.stack.forward[-2], weights.stack.biases[-2])
    torch.clamp_min(conv1.view_as(h), 0, out=relu2.interior)
    return h


def critic_backward(
    weights: CriticWeights, buffers: StackBuffers, scale: torch.Tensor
) -> torch.Tensor:
    """d(Σ scale_n · score_n)/dh0, (N, L, C) view, for scale (N, 1, 1) in the compute dtype."""
    blocks = len(weights.stack.forward) // 2
    relu1, relu2 = weights.last
    v1, u = buffers.v1(blocks - 1), buffers.u(blocks - 1)
    torch.mul(weights.folded.interior, scale, out=v1.interior)  # dS/dr2 = scale·G on every row
    mask_into(v1.interior, buffers.input(relu2).interior, 0, grad_input=v1.interior)
    dr1 = buffers.conv(v1, weights.stack.backward[-2]).view_as(v1.interior)
    mask_into(dr1, buffers.input(relu1).interior, 0, grad_input=dr1)
    torch.addcmul(dr1, scale, weights.head, out=u.interior)  # + the head's direct term
    return stack_backward(weights.stack.first(blocks - 1), buffers)


def score_and_input_grad(
    weights: CriticWeights,
    x: torch.Tensor,
    term_grad: Callable[[torch.Tensor], torch.Tensor],
    buffers: StackBuffers,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (N,) of soft one-hot rows x (N, L, V), and d(term)/dx (N, L, V) in the wide dtype
    for a term of the scores whose derivative by each score is term_grad(scores) (N,)."""
    n, length, vocab = x.shape
    h = critic_forward(weights, _embed_soft(weights, x.to(weights.embed.dtype)), buffers)
    scores = weights.scores(h, buffers, slice(0, n))  # (N,)
    scales = term_grad(scores).to(h.dtype).view(n, 1, 1)
    u0 = critic_backward(weights, buffers, scales)  # (N, L, C)
    grad = u0.reshape(n * length, -1) @ weights.embed.t()  # (N·L, V)
    return scores, grad.to(scores.dtype).view(n, length, vocab)


@torch.no_grad()
def critic_loss_and_grads(
    critic: Critic,
    real_ids: torch.Tensor,
    fake: torch.Tensor,
    alpha: torch.Tensor,
    objective: Objective,
    *,
    dtype: torch.dtype = torch.float32,
    buffers: StackBuffers | None = None,
    weights: CriticWeights | None = None,
) -> tuple[CriticLoss, dict[str, torch.Tensor]]:
    """The critic's loss parts and d(critic loss)/d(parameter) for every parameter, by name,
    for objective's loss and penalty (gp, lp or none). real_ids (B, L), fake (B, L, V) soft
    one-hot, alpha (B,) fp32.

    buffers: stack_buffers(critic, rows, dtype) with rows = 3B with a penalty (real, fake, x̂),
    else 2B; weights: the critic's current weights (CriticWeights.of(critic, dtype), or one
    refreshed by load()); both made when not given."""
    batch, length = real_ids.shape
    with_penalty = objective.penalty is not None
    rows = (3 if with_penalty else 2) * batch
    weights = weights if weights is not None else CriticWeights.of(critic, dtype)
    buffers = buffers if buffers is not None else stack_buffers(critic, rows, dtype)
    fake = fake.to(wide(dtype))
    soft = torch.cat([fake, _interpolate(real_ids, fake, alpha)]) if with_penalty else fake
    soft = soft.to(dtype)  # (2B or B, L, V)
    real_h0 = weights.embed[real_ids] + weights.embed_bias  # one-hot rows: a lookup
    h = critic_forward(weights, torch.cat([real_h0, _embed_soft(weights, soft)]), buffers)
    scores = weights.scores(h, buffers, slice(0, 2 * batch))  # (2B,)
    real_scores, fake_scores = scores[:batch], scores[batch:]
    term = objective.critic_term(real_scores, fake_scores)
    d_real, d_fake = objective.critic_term_grads(real_scores, fake_scores)  # (B,) each, wide

    # d(loss)/d(score) for the real and fake rows; 1 for x̂, whose backward is ∇x̂ D
    scale = torch.ones(rows, 1, 1, dtype=dtype, device=h.device)
    scale[:batch, 0, 0], scale[batch : 2 * batch, 0, 0] = d_real, d_fake
    u0 = critic_backward(weights, buffers, scale).reshape(rows * length, -1)
    gp, delta = None, None
    if with_penalty:
        gp, delta = _penalty_pass(weights, buffers, u0, soft, objective, fake.dtype)

    # Two biases add a constant to every score, leaving ∇x̂ D, hence the penalty, unchanged: fc's
    # gets Σ d(term)/d(score) over the real and fake rows, the last conv's 0.3·Σ_t head_t times
    # that. For the Wasserstein loss the real rows' −1/B cancel the fake rows' 1/B exactly: both
    # are exactly 0 (test_grads pins this).
    score_sum = d_real.sum() + d_fake.sum()  # wide

    # every conv but the last from the buffers; the last conv and the head from the folded head
    halves = [slice(0, batch), slice(batch, 2 * batch)]  # (the x̂ rows' biases get nothing)
    convs, biases = stack_weight_grads(buffers, halves, weights.last[1])
    last_conv, head_grad = _head_grads(weights, buffers, scale, h, delta, batch, score_sum)
    embed, embed_bias = _embed_grads(weights, real_ids, soft, u0)
    last_bias = weights.head.sum(0, dtype=score_sum.dtype).mul_(RESIDUAL_SCALE * score_sum)
    grads = {"inp.weight": embed.unsqueeze(0), "inp.bias": embed_bias}
    grads |= named_stack_grads([*convs, last_conv], [*biases, last_bias.to(biases[0].dtype)])
    grads["fc.weight"] = head_grad.t().reshape(1, -1)  # (1, C·L), fc's (channel, position) order
    grads["fc.bias"] = score_sum.to(weights.const.dtype).view(1)
    loss = term if gp is None else term + objective.weight * gp
    return CriticLoss(loss, wasserstein_estimate(real_scores, fake_scores), gp), grads


def _interpolate(real_ids: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """x̂ = real + α·(fake − real) = α·fake + (1 − α) at each real id: (B, L, V)."""
    length = real_ids.shape[1]
    x_hat = fake * alpha.view(-1, 1, 1)
    x_hat.scatter_add_(2, real_ids.unsqueeze(2), (1 - alpha).view(-1, 1, 1).expand(-1, length, 1))
    return x_hat


def _penalty_pass(
    weights: CriticWeights,
    buffers: StackBuffers,
    u0: torch.Tensor,
    soft: torch.Tensor,
    objective: Objective,
    wide_dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The penalty of the x̂ rows (the last third of u0's rows, the last half of soft's) and its
    adjoint pushed back through their backward: returns (penalty, δ at the last block's input
    (B, L, C)). soft's x̂ rows are overwritten with δx."""
    batch, length = soft.shape[0] // 2, soft.shape[1]
    grad_x = u0[2 * batch * length :] @ weights.embed.t()  # (B·L, V)
    grad_x = grad_x.to(wide_dtype).view(batch, length, -1)  # ∇x̂ D(x̂)
    gp, adjoint = objective.penalty(grad_x, True)
    # the penalty's adjoint, δx = λ·dP/d∇x̂, back through the x̂ rows' backward
    soft[batch:] = adjoint.mul_(objective.weight).to(soft.dtype)  # x̂ is used up: rows hold δx
    delta = (soft[batch:] @ weights.embed).contiguous()  # (B, L, C)
    return gp, _second_order(delta, weights, buffers, slice(2 * batch, 3 * batch))


def _second_order(
    delta: torch.Tensor, weights: CriticWeights, buffers: StackBuffers, rows: slice
) -> torch.Tensor:
    """stack_second_order over all blocks but the last, then the last block's half: its ReLU'd
    inputs' rows end up holding the adjoints (weight-gradient inputs). Returns δ at the last
    block's input (M, L, C)."""
    blocks = len(weights.stack.forward) // 2
    delta = stack_second_order(delta, weights.stack.first(blocks - 1), buffers, rows)
    relu1, relu2 = (buffers.input_rows(j, rows) for j in weights.last)
    mask_into(delta, relu1.interior, 0, grad_input=relu1.interior)
    branch = buffers.conv(relu1, weights.stack.forward[-2]).view_as(delta)
    mask_into(branch, relu2.interior, 0, grad_input=relu2.interior)
    return delta


def _head_grads(
    weights: CriticWeights,
    buffers: StackBuffers,
    scale: torch.Tensor,
    h: torch.Tensor,
    delta: torch.Tensor | None,
    batch: int,
    score_sum: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The last conv's weight gradient (K, C, C) and the head's (L, C), both from one weighted
    sum of the last ReLU's rows: Σ d(term)/d(score)·r2 over the real and fake rows, Σ δ over the
    x̂ rows. score_sum: Σ d(term)/d(score) over the real and fake rows, which the last conv's bias
    adds to the head's gradient."""
    k = weights.stack.kernel
    relu2 = buffers.input(weights.last[1]).buffer  # (3B, T, C): r2, and δ in the x̂ rows
    summed = Padded(torch.einsum("n,ntc->tc", scale.flatten(), relu2).unsqueeze(0), k)
    cols = weights.cols(summed)  # (L, K·C)
    wide_dtype = weights.const.dtype
    last_conv = (cols.t() @ weights.head).to(wide_dtype).mul_(RESIDUAL_SCALE)  # (K·C, C)
    rows = slice(0, 2 * batch)
    direct = torch.einsum("n,nlc->lc", scale[rows].flatten(), h[rows]).to(wide_dtype)
    through_conv = (cols @ weights.stack.forward[-1]).to(wide_dtype)  # conv2(Σ), no bias
    head_grad = direct + RESIDUAL_SCALE * through_conv
    head_grad += weights.stack.biases[-1].to(wide_dtype) * (RESIDUAL_SCALE * score_sum)
    if delta is not None:  # the x̂ rows' second-order term
        head_grad += delta.sum(0, dtype=wide_dtype)
    return last_conv.view(k, -1, last_conv.shape[1]), head_grad


def _embed_grads(
    weights: CriticWeights, real_ids: torch.Tensor, soft: torch.Tensor, u0: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first layer's weight (V, C) and bias (C,) gradients: one-hot real rows add u0 at their
    ids; the fake and δx rows are a product."""
    batch, length = real_ids.shape
    wide_dtype = weights.head_bias.dtype
    real_rows = batch * length
    embed = (soft.reshape(-1, soft.shape[-1]).t() @ u0[real_rows:]).to(wide_dtype)  # (V, C)
    embed.index_add_(0, real_ids.flatten(), u0[:real_rows].to(wide_dtype))
    return embed, u0[: 2 * real_rows].sum(0).to(wide_dtype)


def _embed_soft(weights: CriticWeights, x: torch.Tensor) -> torch.Tensor:
    """The first layer on soft rows: (N, L, V) → (N, L, C)."""
    n, length, vocab = x.shape
    flat = torch.addmm(weights.embed_bias, x.reshape(n * length, vocab), weights.embed)
    return flat.view(n, length, -1)
