"""Convolutions on padded channels-last buffers, every implementation, against F.conv1d and
autograd: in float64 agreement is to rounding; in the training dtypes (fp32, bf16), where the
native path runs the framework's optimized kernels and Winograd's transforms round, to their
precision."""

import pytest
import torch
import torch.nn.functional as F

from textgan.engines.fused.conv import (
    Im2col,
    Padded,
    WinogradConv,
    WinogradTransforms,
    backward_taps,
    copy_all,
    forward_matrix,
    make_conv,
    matrix_storage,
    toom_cook,
)
from textgan.runtime.device import CONV_IMPLS, WINOGRAD_TILE

N, L, C_IN, C_OUT, K = 3, 7, 4, 6, 5
F64 = torch.float64
TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-4, torch.bfloat16: 2e-2}  # relative to max
# Winograd's bf16 transforms round more than one product does: with these 4-6 channels its
# largest error was up to 4.4% of the largest value (median 1.7%) over 300 draws, against 0.6%
WINOGRAD_BF16 = 6e-2
DTYPES = [torch.float64, torch.float32, torch.bfloat16]
LENGTHS = [L, 16]  # 16: in Winograd tiles of 4; 7: not, winograd runs im2col products


def padded(values: torch.Tensor) -> Padded:  # values (N, L, C)
    n, length, channels = values.shape
    buffer = Padded.zeros(n, length, channels, K, values.dtype, "cpu")
    buffer.interior.copy_(values)
    return buffer


def scratch(channels: int) -> Im2col:
    return Im2col(N * (L + K - 1), K * channels, F64, torch.device("cpu"))


def reference_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:  # (N, L, C_in) → C_out
    return F.conv1d(x.transpose(1, 2), weight.permute(2, 1, 0), padding=K // 2).transpose(1, 2)


def laid_out(matrix: torch.Tensor, impl: str) -> torch.Tensor:
    """matrix (K·C_in, C_out) copied into the storage impl takes."""
    storage = matrix_storage(tuple(matrix.shape), impl, matrix.dtype, matrix.device)
    return storage.copy_(matrix)


def assert_close(
    got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype, impl: str = "im2col"
) -> None:
    scale = want.abs().max().item()
    error = (got.double() - want.double()).abs().max().item()
    tolerance = WINOGRAD_BF16 if (impl, dtype) == ("winograd", torch.bfloat16) else TOLERANCE[dtype]
    assert error <= tolerance * scale, (error, scale)


@pytest.fixture(autouse=True)
def seeded() -> None:
    torch.manual_seed(0)


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


def test_native_matrices_are_transposed_views_of_dense_tensors() -> None:
    matrix = matrix_storage((K * C_IN, C_OUT), "native", F64, "cpu")
    assert matrix.shape == (K * C_IN, C_OUT) and matrix.t().is_contiguous()
    assert matrix_storage((K * C_IN, C_OUT), "im2col", F64, "cpu").is_contiguous()


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("impl", CONV_IMPLS)
def test_conv_is_conv1d(impl: str, dtype: torch.dtype, length: int) -> None:
    x, weight = torch.randn(N, length, C_IN, dtype=F64), torch.randn(K, C_IN, C_OUT, dtype=F64)
    bias = torch.randn(C_OUT, dtype=F64)
    conv = make_conv(impl, N * (length + K - 1), K * C_IN, dtype, "cpu")
    matrix = laid_out(forward_matrix(weight).to(dtype), impl)
    y = conv(padded(x.to(dtype)), matrix, bias.to(dtype))
    assert y.shape == (N * length, C_OUT) and y.dtype == dtype
    assert_close(y.view(N, length, C_OUT), reference_conv(x, weight) + bias, dtype, impl)
    assert_close(conv(padded(x.to(dtype)), matrix).view(N, length, C_OUT),
                 reference_conv(x, weight), dtype, impl)  # fmt: skip


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("impl", CONV_IMPLS)
def test_backward_taps_make_the_matrix_of_the_input_gradient(impl: str, dtype, length) -> None:
    x = torch.randn(N, length, C_IN, dtype=F64, requires_grad=True)
    weight = torch.randn(K, C_IN, C_OUT, dtype=F64)
    grad_y = torch.randn(N, length, C_OUT, dtype=F64)
    (expected,) = torch.autograd.grad(reference_conv(x, weight), x, grad_y)
    backward = matrix_storage((K * C_OUT, C_IN), "native", dtype, "cpu").fill_(float("nan"))
    copy_all(*backward_taps(weight, backward))
    conv = make_conv(impl, N * (length + K - 1), K * C_OUT, dtype, "cpu")
    grad_x = conv(padded(grad_y.to(dtype)), backward)
    assert_close(grad_x.view(N, length, C_IN), expected, dtype, impl)


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("impl", CONV_IMPLS)
def test_weight_grad_is_the_weight_gradient_in_the_weights_layout(impl: str, dtype, length) -> None:
    x = torch.randn(N, length, C_IN, dtype=F64)
    grad_y = torch.randn(N, length, C_OUT, dtype=F64)
    weight = torch.randn(K, C_IN, C_OUT, dtype=F64, requires_grad=True)
    (expected,) = torch.autograd.grad(reference_conv(x, weight), weight, grad_y)
    conv = make_conv(impl, N * (length + K - 1), K * C_IN, dtype, "cpu")
    # the flat windows centred on pad rows mix samples; the zero pads of grad_y cancel them
    wide = torch.promote_types(dtype, torch.float32)
    grad = conv.weight_grad(padded(x.to(dtype)), padded(grad_y.to(dtype)), wide)
    assert grad.shape == (K, C_IN, C_OUT) and grad.dtype == wide
    assert grad.is_contiguous()
    assert_close(grad, expected, dtype, impl)


def test_unknown_impl_is_refused() -> None:
    with pytest.raises(ValueError, match="fft"):
        make_conv("fft", 1, 1, F64, "cpu")


@pytest.mark.parametrize(("m", "r"), [(4, 5), (5, 4), (4, 3), (2, 5), (4, 7)])
def test_toom_cook_matrices_compute_the_correlation(m: int, r: int) -> None:
    at, g, bt = toom_cook(m, r)
    assert at.shape == (m, m + r - 1) and g.shape == (m + r - 1, r) and bt.shape == (m + r - 1,) * 2
    d, taps = torch.randn(m + r - 1, dtype=F64), torch.randn(r, dtype=F64)
    expected = torch.stack([d[j : j + r] @ taps for j in range(m)])
    assert torch.allclose(at @ ((g @ taps) * (bt @ d)), expected, rtol=0, atol=1e-12)


def test_winograd_data_transforms_are_exact_in_bf16() -> None:
    exact = WinogradTransforms.of(K, WINOGRAD_TILE, F64, "cpu")
    bf16 = WinogradTransforms.of(K, WINOGRAD_TILE, torch.bfloat16, "cpu")
    for name in ("bt", "at", "grad_g"):  # applied to bf16 data: no rounding of their own
        assert torch.equal(getattr(bf16, name).double(), getattr(exact, name)), name
    assert bf16.g.dtype == bf16.grad_at.dtype == torch.float32  # weight side: wide


def test_winograd_runs_tiles_when_the_length_allows_and_im2col_otherwise() -> None:
    weight = torch.randn(K, C_IN, C_OUT, dtype=F64)
    conv = make_conv("winograd", N * (16 + K - 1), K * C_IN, F64, "cpu")
    assert isinstance(conv, WinogradConv)
    conv(padded(torch.randn(N, 16, C_IN, dtype=F64)), forward_matrix(weight))
    assert conv._fallback is None
    conv(padded(torch.randn(N, 7, C_IN, dtype=F64)), forward_matrix(weight))
    assert conv._fallback is not None


def test_winograd_weights_are_made_again_when_the_matrix_changes() -> None:
    x = torch.randn(N, 16, C_IN, dtype=F64)
    first, second = torch.randn(2, K, C_IN, C_OUT, dtype=F64)
    conv = make_conv("winograd", N * (16 + K - 1), K * C_IN, F64, "cpu")
    matrix = forward_matrix(first).clone()
    conv(padded(x), matrix)
    matrix.copy_(forward_matrix(second))  # in place, as the training's weight refresh does
    assert_close(conv(padded(x), matrix).view(N, 16, C_OUT), reference_conv(x, second), F64)
    taps = matrix.view(K, C_IN, C_OUT)[0]  # through a view too
    taps.zero_()
    second[0] = 0
    assert_close(conv(padded(x), matrix).view(N, 16, C_OUT), reference_conv(x, second), F64)
