"""Convolutions as matrix products on padded channels-last buffers, against F.conv1d and autograd
(float64, so agreement is to rounding)."""

import torch
import torch.nn.functional as F

from textgan.gemm_conv import (
    Im2col,
    Padded,
    backward_taps,
    copy_all,
    forward_matrix,
    weight_grad_matrix,
)

N, L, C_IN, C_OUT, K = 3, 7, 4, 6, 5
F64 = torch.float64


def padded(values: torch.Tensor) -> Padded:  # values (N, L, C)
    buffer = Padded.zeros(values.shape[0], values.shape[1], values.shape[2], K, F64, "cpu")
    buffer.interior.copy_(values)
    return buffer


def scratch(channels: int) -> Im2col:
    return Im2col(N * (L + K - 1), K * channels, F64, torch.device("cpu"))


def reference_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # (N, L, C_in) → C_out
    return F.conv1d(x.transpose(1, 2), weight.permute(2, 1, 0), padding=K // 2).transpose(1, 2)


def test_padded_views_and_zero_pads() -> None:
    x = torch.randn(N, L, C_IN, dtype=F64)
    buffer = padded(x)
    assert buffer.buffer.shape == (N, L + 4, C_IN)
    assert torch.equal(buffer.interior, x)
    assert buffer.buffer[:, :2].abs().sum() == 0 and buffer.buffer[:, -2:].abs().sum() == 0
    assert torch.equal(buffer.rows(slice(1, 3)).interior, x[1:3])


def test_im2col_rows_are_the_zero_padded_windows() -> None:
    x = torch.randn(N, L, C_IN, dtype=F64)
    cols = scratch(C_IN)(padded(x)).view(N, L, K, C_IN)
    assert torch.equal(cols[1, 3], x[1, 1:6])  # window t − 2 … t + 2
    assert torch.equal(cols[2, 0, :2], torch.zeros(2, C_IN, dtype=F64))  # left pad
    assert torch.equal(cols[2, 0, 2:], x[2, :3])
    assert torch.equal(cols[0, L - 1, 3:], torch.zeros(2, C_IN, dtype=F64))  # right pad


def test_forward_matrix_product_is_conv1d() -> None:
    x, weight = torch.randn(N, L, C_IN, dtype=F64), torch.randn(K, C_IN, C_OUT, dtype=F64)
    y = scratch(C_IN)(padded(x)) @ forward_matrix(weight)
    assert torch.allclose(y.view(N, L, C_OUT), reference_conv(x, weight), atol=1e-12)


def test_backward_taps_make_the_matrix_of_the_input_gradient() -> None:
    x = torch.randn(N, L, C_IN, dtype=F64, requires_grad=True)
    weight, grad_y = torch.randn(K, C_IN, C_OUT, dtype=F64), torch.randn(N, L, C_OUT, dtype=F64)
    (expected,) = torch.autograd.grad(reference_conv(x, weight), x, grad_y)
    forward = forward_matrix(weight)
    backward = torch.full((C_IN, K * C_OUT), float("nan"), dtype=F64)
    copy_all(*backward_taps(forward, backward, K))
    grad_x = F.linear(scratch(C_OUT)(padded(grad_y)), backward)
    assert torch.allclose(grad_x.view(N, L, C_IN), expected, atol=1e-12)


def test_weight_grad_matrix_is_the_weight_gradient_in_the_weights_layout() -> None:
    x, grad_y = torch.randn(N, L, C_IN, dtype=F64), torch.randn(N, L, C_OUT, dtype=F64)
    weight = torch.randn(K, C_IN, C_OUT, dtype=F64, requires_grad=True)
    (expected,) = torch.autograd.grad(reference_conv(x, weight), weight, grad_y)
    # the flat windows centred on pad rows mix samples; the zero pads of grad_y cancel them
    grad = weight_grad_matrix(padded(x), padded(grad_y), scratch(C_IN))
    assert grad.shape == (K * C_IN, C_OUT)
    assert torch.allclose(grad.view(K, C_IN, C_OUT), expected, atol=1e-12)
