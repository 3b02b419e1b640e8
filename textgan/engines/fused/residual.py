"""The residual conv stack (model.ResBlock × n) run by hand: forward, backward, weight gradients,
and the pass that differentiates the backward once more (the gradient penalty's second order).

Activations are channels-last in the compute dtype; every conv runs on padded buffers (conv.py).
A ReLU's derivative is its mask, read off the ReLU's output; the masks are constants for every
derivative taken here, as they are almost everywhere.

Per block, with r1 = relu(h), a1 = conv1(r1), r2 = relu(a1), a2 = conv2(r2):
    forward      h' = h + 0.3·a2
    backward     u = u' + m1 ⊙ conv1ᵀ(m2 ⊙ conv2ᵀ(0.3·u'))           (u = dS/dh, u' = dS/dh')
    second order δu' = δu + 0.3·conv2(m2 ⊙ conv1(m1 ⊙ δu))           (δ: adjoint of the backward)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from textgan.engines.fused.conv import (
    ConvImpl,
    Padded,
    backward_taps,
    copy_all,
    forward_matrix,
    make_conv,
    matrix_storage,
    wide,
)
from textgan.models.resnet import RESIDUAL_SCALE

# mask_into(g, relu_out, 0, grad_input=out): out = g where relu_out > 0, else 0 (ReLU's backward)
mask_into = torch.ops.aten.threshold_backward.grad_input


@dataclass(frozen=True)
class StackWeights:
    """The convs of a block stack (two per block) as matrices in the compute dtype, laid out for
    a conv implementation (conv.matrix_storage) and refreshed from the modules' parameters by
    load() (a few copies in all, into the same tensors)."""

    forward: list[torch.Tensor]  # (K·C, C) each
    backward: list[torch.Tensor]  # (K·C, C) each, input gradients; conv2's carry the scale 0.3
    biases: list[torch.Tensor]  # (C,) each
    kernel: int
    copies: tuple[list[torch.Tensor], list[torch.Tensor]]

    @classmethod
    def of(
        cls, blocks: nn.Sequential, dtype: torch.dtype, backward: bool = True, impl: str = "im2col"
    ) -> StackWeights:
        convs = [conv for block in blocks for conv in (block.conv1, block.conv2)]
        kernel, device = convs[0].kernel, convs[0].weight.device
        shape = forward_matrix(convs[0].weight).shape  # (K·C, C)
        forward = [matrix_storage(shape, impl, dtype, device) for _ in convs]
        biases = [torch.empty_like(conv.bias, dtype=dtype) for conv in convs]
        destinations = forward + biases
        sources = [forward_matrix(conv.weight) for conv in convs]
        sources += [conv.bias.detach() for conv in convs]
        matrices = []  # transposed views of dense tensors, whatever impl (see backward_taps)
        for conv in convs if backward else []:
            matrices.append(matrix_storage(shape, "native", dtype, device))
            taps, weights = backward_taps(conv.weight, matrices[-1])
            destinations, sources = destinations + taps, sources + weights
        return cls(forward, matrices, biases, kernel, (destinations, sources)).load()

    def first(self, blocks: int) -> StackWeights:
        """The matrices of the first `blocks` blocks (the same tensors; load() on self)."""
        convs = 2 * blocks
        return replace(self, forward=self.forward[:convs], backward=self.backward[:convs],
                       biases=self.biases[:convs], copies=([], []))  # fmt: skip

    def load(self) -> StackWeights:
        """Copy the parameters' current values in; returns self."""
        copy_all(*self.copies)
        if self.backward:
            torch._foreach_mul_(self.backward[1::2], RESIDUAL_SCALE)  # v2 = 0.3·u
        return self


class StackBuffers:
    """Zero-padded buffers (Padded, N rows) for one stack's passes, reused from step to step."""

    def __init__(
        self,
        n: int,
        length: int,
        channels: int,
        n_blocks: int,
        kernel: int,
        dtype: torch.dtype,
        device: torch.device,
        backward: bool = True,
        impl: str = "im2col",
    ) -> None:
        """backward=False: buffers for a forward only (one input buffer shared by every conv);
        impl: how the convs run (conv.CONV_IMPLS)."""

        def new(count: int) -> tuple[torch.Tensor, list[Padded]]:
            shape = (count, n, length + 2 * (kernel // 2), channels)
            stacked = torch.zeros(shape, dtype=dtype, device=device)
            return stacked, [Padded(buffer, kernel) for buffer in stacked]

        count = 2 * n_blocks if backward else 1
        _, self.inputs = new(count)  # per conv: its ReLU'd input (mask; weight-gradient input)
        # per block: dS/d(conv1 output), then dS/d(block output); those last are u(1..n_blocks)
        self.stacked_out_grads, self.out_grads = new(count if backward else 0)
        self.input_grad = new(1)[1][0]  # dS/d(stack input), u(0)
        self.conv: ConvImpl = make_conv(impl, n * (length + kernel - 1), kernel * channels, dtype,
                                    device)  # fmt: skip
        self._row_views: dict[tuple[int, int, int], Padded] = {}

    def input(self, j: int) -> Padded:
        """Conv j's ReLU'd input (one shared buffer when there is no backward)."""
        return self.inputs[j % len(self.inputs)]

    def input_rows(self, j: int, rows: slice) -> Padded:
        key = (j, rows.start, rows.stop)
        if key not in self._row_views:
            self._row_views[key] = self.input(j).rows(rows)
        return self._row_views[key]

    def u(self, i: int) -> Padded:
        """dS/d(input of block i); for a stack of n blocks, u(n) holds the upstream."""
        return self.input_grad if i == 0 else self.out_grads[2 * i - 1]

    def v1(self, i: int) -> Padded:
        """dS/d(conv1 output) of block i."""
        return self.out_grads[2 * i]


def stack_buffers(
    net: nn.Module, rows: int, dtype: torch.dtype, backward: bool = True, impl: str = "im2col"
) -> StackBuffers:
    """Buffers for the block stack of a Generator or Critic over `rows` sequences."""
    c = net.config
    kernel, device = net.blocks[0].conv1.kernel, next(net.parameters()).device
    return StackBuffers(rows, c.seq_len, c.dim, c.n_blocks, kernel, dtype, device, backward, impl)


def stack_forward(h: torch.Tensor, weights: StackWeights, buffers: StackBuffers) -> torch.Tensor:
    """h (N, L, C), contiguous, is updated in place to the stack's output; buffers.inputs keep
    every conv's ReLU'd input."""
    for i in range(0, len(weights.forward), 2):
        branch = h
        for j in (i, i + 1):
            inputs = buffers.input(j)
            torch.clamp_min(branch, 0, out=inputs.interior)  # relu
            branch = buffers.conv(inputs, weights.forward[j], weights.biases[j]).view_as(h)
        h.add_(branch, alpha=RESIDUAL_SCALE)
    return h


def stack_backward(weights: StackWeights, buffers: StackBuffers) -> torch.Tensor:
    """From the upstream dS/d(output), in buffers.u(blocks).interior, to dS/d(input), returned
    as an (N, L, C) view; on the way, buffers.out_grads fill with the convs' output gradients."""
    for i in reversed(range(len(weights.forward) // 2)):
        c1, c2, v1 = 2 * i, 2 * i + 1, buffers.v1(i)
        dr2 = buffers.conv(buffers.u(i + 1), weights.backward[c2]).view_as(v1.interior)  # dS/dr2
        mask_into(dr2, buffers.input(c2).interior, 0, grad_input=v1.interior)
        dr1 = buffers.conv(v1, weights.backward[c1]).view_as(dr2)  # dS/dr1
        mask_into(dr1, buffers.input(c1).interior, 0, grad_input=dr1)  # dS/dh through conv1
        torch.add(buffers.u(i + 1).interior, dr1, out=buffers.u(i).interior)
    return buffers.u(0).interior


def stack_second_order(
    delta: torch.Tensor, weights: StackWeights, buffers: StackBuffers, rows: slice
) -> torch.Tensor:
    """Push the adjoint δ (M, L, C) of stack_backward's result, for `rows` of the batch, back
    through that backward to the adjoint of its upstream; δ is updated in place and returned.

    Each conv-transpose of the backward is linear in its weights, with weight gradient
    im2col(δ at its output)ᵀ @ (its out_grad): that δ overwrites the rows' ReLU'd inputs (whose
    masks are used here for the last time), so stack_weight_grads picks it up with the rest.
    """
    for i in range(0, len(weights.forward), 2):
        branch = delta
        for j in (i, i + 1):
            inputs = buffers.input_rows(j, rows)
            mask_into(branch, inputs.interior, 0, grad_input=inputs.interior)
            branch = buffers.conv(inputs, weights.forward[j]).view_as(delta)
        delta.add_(branch, alpha=RESIDUAL_SCALE)
    return delta


def stack_weight_grads(
    buffers: StackBuffers, bias_rows: list[slice], convs: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The weight gradients (K, C, C) and bias gradients (C,) of the first `convs` convs, in the
    wide dtype, from the buffers after stack_backward (and stack_second_order).

    Bias gradients add up the out_grads over the rows in bias_rows, one sum per slice: terms
    that cancel exactly (D(fake) − D(real) on one bias) then give exactly zero."""
    dtype = wide(buffers.input_grad.buffer.dtype)
    conv_grads = [buffers.conv.weight_grad(buffers.inputs[j], buffers.out_grads[j], dtype)
                  for j in range(convs)]  # fmt: skip
    for grad in conv_grads[1::2]:  # conv2's out_grad is kept as u: v2 = 0.3·u
        grad.mul_(RESIDUAL_SCALE)
    out_grads = buffers.stacked_out_grads[:convs]  # (convs, N, T, C)
    sums = [out_grads[:, rows].flatten(1, 2).sum(1) for rows in bias_rows]  # (convs, C) each
    bias_grads = torch.stack(sums).to(wide(out_grads.dtype)).sum(0)  # (convs, C)
    bias_grads[1::2] *= RESIDUAL_SCALE
    return conv_grads, list(bias_grads.unbind())


def named_stack_grads(
    conv_grads: list[torch.Tensor], bias_grads: list[torch.Tensor], prefix: str = "blocks"
) -> dict[str, torch.Tensor]:
    """The gradients of a stack's convs (two per block, in order) under the names its ResBlocks
    give their parameters: {prefix}.{block}.conv{1,2}.{weight,bias}."""
    named = {}
    for j, (weight, bias) in enumerate(zip(conv_grads, bias_grads, strict=True)):
        layer = f"{prefix}.{j // 2}.conv{j % 2 + 1}"
        named[f"{layer}.weight"], named[f"{layer}.bias"] = weight, bias
    return named
