"""The residual conv stack (model.ResBlock × n) run by hand: forward, backward, weight gradients,
and the pass that differentiates the backward once more (the gradient penalty's second order).

Activations are channels-last in the compute dtype; every conv is one matrix product (gemm_conv).
A ReLU's derivative is its mask, read off the ReLU's output; the masks are constants for every
derivative taken here, as they are almost everywhere.

Per block, with r1 = relu(h), a1 = conv1(r1), r2 = relu(a1), a2 = conv2(r2):
    forward      h' = h + 0.3·a2
    backward     u = u' + m1 ⊙ conv1ᵀ(m2 ⊙ conv2ᵀ(0.3·u'))           (u = dS/dh, u' = dS/dh')
    second order δu' = δu + 0.3·conv2(m2 ⊙ conv1(m1 ⊙ δu))           (δ: adjoint of the backward)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from textgan.gemm_conv import (
    backward_matrix,
    forward_matrix,
    im2col,
    interior,
    padded_zeros,
    weight_grad_matrix,
)
from textgan.model import RESIDUAL_SCALE

_mask = torch.ops.aten.threshold_backward  # (g, relu_out, 0) → g where relu_out > 0, else 0
_mask_into = torch.ops.aten.threshold_backward.grad_input


@dataclass(frozen=True)
class StackWeights:
    """The convs of a block stack (two per block) as matrices in the compute dtype."""

    forward: list[torch.Tensor]  # (K·C, C) each
    backward: list[torch.Tensor]  # (C, K·C) each; conv2's carry the residual scale 0.3
    biases: list[torch.Tensor]  # (C,) each
    kernel: int

    @classmethod
    def of(cls, blocks: nn.Sequential, dtype: torch.dtype, backward: bool = True) -> StackWeights:
        convs = [conv for block in blocks for conv in (block.conv1, block.conv2)]
        scales = [1.0, RESIDUAL_SCALE] * len(blocks)  # v2 = 0.3·u: the scale goes into conv2's
        backward_matrices = [
            backward_matrix(conv.weight, dtype, scale)
            for conv, scale in zip(convs, scales, strict=True)
        ]
        return cls(
            forward=[forward_matrix(conv.weight, dtype) for conv in convs],
            backward=backward_matrices if backward else [],
            biases=[conv.bias.detach().to(dtype) for conv in convs],
            kernel=convs[0].kernel,
        )


@dataclass(frozen=True)
class StackBuffers:
    """Zero-padded buffers (…, N, L + 2·pad, C) for one stack over N rows, reused across steps."""

    inputs: torch.Tensor  # (2·blocks, …): each conv's ReLU'd input (its mask; weight-grad input)
    out_grads: torch.Tensor  # (2·blocks, …): dS/d(conv1 output) and dS/d(block output) per block
    input_grad: torch.Tensor  # (N, L + 2·pad, C): dS/d(stack input)
    cols: torch.Tensor  # (N·(L + 2·pad), K·C) im2col scratch

    @classmethod
    def allocate(
        cls,
        n: int,
        length: int,
        channels: int,
        n_blocks: int,
        kernel: int,
        dtype: torch.dtype,
        device: torch.device,
        backward: bool = True,
    ) -> StackBuffers:
        """backward=False: buffers for a forward only (one input buffer shared by every conv)."""

        def new(count: int) -> torch.Tensor:
            return padded_zeros(count * n, length, channels, kernel, dtype, device).unflatten(
                0, (count, n)
            )

        cols = torch.empty(n * (length + kernel - 1), kernel * channels, dtype=dtype, device=device)
        if not backward:
            return cls(new(1), new(0), new(1)[0], cols)
        return cls(new(2 * n_blocks), new(2 * n_blocks), new(1)[0], cols)

    def input(self, j: int) -> torch.Tensor:
        """Conv j's ReLU'd input (N, T, C) (one shared buffer when there is no backward)."""
        return self.inputs[j if len(self.inputs) > 1 else 0]

    @property
    def upstream(self) -> torch.Tensor:
        """Where stack_backward reads dS/d(stack output) (N, T, C): write its interior."""
        return self.out_grads[-1]

    def u(self, i: int) -> torch.Tensor:
        """dS/d(input of block i) (N, T, C); u(n_blocks) is the upstream."""
        return self.input_grad if i == 0 else self.out_grads[2 * i - 1]

    def v1(self, i: int) -> torch.Tensor:
        """dS/d(conv1 output) of block i (N, T, C)."""
        return self.out_grads[2 * i]


def stack_buffers(
    net: nn.Module, rows: int, dtype: torch.dtype, backward: bool = True
) -> StackBuffers:
    """Buffers for the block stack of a Generator or Critic over `rows` sequences."""
    c = net.config
    kernel, device = net.blocks[0].conv1.kernel, next(net.parameters()).device
    return StackBuffers.allocate(
        rows, c.seq_len, c.dim, c.n_blocks, kernel, dtype, device, backward
    )


def stack_forward(h: torch.Tensor, weights: StackWeights, buffers: StackBuffers) -> torch.Tensor:
    """h (N, L, C), contiguous, is updated in place to the stack's output; buffers.inputs keep
    every conv's ReLU'd input."""
    n, length, channels = h.shape
    k = weights.kernel
    for i in range(0, len(weights.forward), 2):
        branch = h
        for j in (i, i + 1):
            torch.clamp_min(branch, 0, out=interior(buffers.input(j), k))  # relu
            cols = im2col(buffers.input(j), k, buffers.cols)  # (N·L, K·C)
            branch = torch.addmm(weights.biases[j], cols, weights.forward[j])
            branch = branch.view(n, length, channels)
        h.add_(branch, alpha=RESIDUAL_SCALE)
    return h


def stack_backward(weights: StackWeights, buffers: StackBuffers) -> torch.Tensor:
    """From the upstream dS/d(output) in interior(buffers.upstream) to dS/d(input), returned
    as an (N, L, C) view; on the way, buffers.out_grads fill with the convs' output gradients."""
    k = weights.kernel
    n = buffers.input_grad.shape[0]
    for i in reversed(range(len(weights.forward) // 2)):
        c1, c2 = 2 * i, 2 * i + 1
        p = F.linear(im2col(buffers.u(i + 1), k, buffers.cols), weights.backward[c2])  # dS/dr2
        dr2 = p.view(n, -1, p.shape[1])  # (N, L, C)
        _mask_into(dr2, interior(buffers.input(c2), k), 0, grad_input=interior(buffers.v1(i), k))
        q = F.linear(im2col(buffers.v1(i), k, buffers.cols), weights.backward[c1])  # dS/dr1
        dh = _mask(q.view_as(dr2), interior(buffers.input(c1), k), 0)
        torch.add(interior(buffers.u(i + 1), k), dh, out=interior(buffers.u(i), k))
    return interior(buffers.u(0), k)


def stack_second_order(
    delta: torch.Tensor, weights: StackWeights, buffers: StackBuffers, rows: slice
) -> torch.Tensor:
    """Push the adjoint δ (M, L, C) of stack_backward's result, for `rows` of the batch, back
    through that backward to the adjoint of its upstream; δ is updated in place and returned.

    Each conv-transpose of the backward is linear in its weights, with weight gradient
    im2col(δ at its output)ᵀ @ (its out_grad): that δ overwrites the rows' ReLU'd inputs (whose
    masks are used here for the last time), so stack_weight_grads picks it up with the rest.
    """
    k = weights.kernel
    for i in range(0, len(weights.forward), 2):
        branch = delta
        for j in (i, i + 1):
            inputs = buffers.input(j)[rows]  # (M, L + 2·pad, C)
            _mask_into(branch, interior(inputs, k), 0, grad_input=interior(inputs, k))
            branch = (im2col(inputs, k, buffers.cols) @ weights.forward[j]).view_as(delta)
        delta.add_(branch, alpha=RESIDUAL_SCALE)
    return delta


def stack_weight_grads(
    weights: StackWeights, buffers: StackBuffers, bias_rows: list[slice]
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Every conv's weight gradient (K, C, C) and bias gradient (C,), fp32, from the buffers
    after stack_backward (and stack_second_order).

    Bias gradients add up the out_grads over the rows in bias_rows, one sum per slice: terms
    that cancel exactly (D(fake) − D(real) on one bias) then give exactly zero."""
    k = weights.kernel
    scales = torch.tensor([1.0, RESIDUAL_SCALE], device=buffers.cols.device)
    scales = scales.repeat(len(weights.forward) // 2).unsqueeze(1)  # (2·blocks, 1): v2 = 0.3·u
    conv_grads = []
    for j, (inputs, out_grad) in enumerate(zip(buffers.inputs, buffers.out_grads, strict=True)):
        matrix = weight_grad_matrix(inputs, out_grad, k, buffers.cols)  # (K·C, C)
        matrix = matrix.float().mul_(scales[j])
        conv_grads.append(matrix.view(k, -1, matrix.shape[1]))
    sums = [buffers.out_grads[:, rows].flatten(1, 2).sum(1) for rows in bias_rows]
    bias_grads = torch.stack(sums).float().sum(0).mul_(scales)  # (2·blocks, C)
    return conv_grads, list(bias_grads.unbind())
