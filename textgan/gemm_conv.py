"""Same-padded 1D convolutions on channels-last activations, as one matrix product each.

Activations that feed a convolution live in padded buffers (N, L + 2·pad, C) whose pad rows stay
zero, so the im2col matrix is one copy of a view. A convolution (weight (K, C_in, C_out), see
model.Conv) is then im2col (N·L, K·C_in) @ weight.view(K·C_in, C_out); its input gradient is the
same kind of product with the kernel flipped (backward_matrix), and its weight gradient
im2colᵀ @ the output gradient (weight_grad_matrix), already in the weight's layout.
"""

from __future__ import annotations

import torch


def padded_zeros(
    n: int, length: int, channels: int, kernel: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """A zeroed buffer (N, L + 2·pad, C); write activations into interior(buffer)."""
    return torch.zeros(n, length + 2 * (kernel // 2), channels, dtype=dtype, device=device)


def interior(buffer: torch.Tensor, kernel: int) -> torch.Tensor:
    """The (N, L, C) view of a padded buffer's non-pad rows."""
    pad = kernel // 2
    return buffer[:, pad : buffer.shape[1] - pad]


def im2col(buffer: torch.Tensor, kernel: int, out: torch.Tensor) -> torch.Tensor:
    """Padded (N, L + 2·pad, C) → out (N·L, K·C): row (n, t) = x[n, t − pad : t + pad + 1]."""
    n, padded_length, channels = buffer.shape
    length = padded_length - 2 * (kernel // 2)
    windows = buffer.unfold(1, kernel, 1).transpose(2, 3)  # (N, L, K, C), a view
    out = out[: n * length]
    out.view(n, length, kernel, channels).copy_(windows)
    return out


def im2col_flat(buffer: torch.Tensor, kernel: int, out: torch.Tensor) -> torch.Tensor:
    """Padded (N, T, C) → out (N·T − 2·pad, K·C): the windows around every flat row but the first
    and last pad ones. Rows centred on pad rows mix neighbouring samples; they are only ever
    multiplied by gradient rows that are zero there (see weight_grad_matrix)."""
    n, padded_length, channels = buffer.shape
    rows = n * padded_length - 2 * (kernel // 2)
    flat = buffer.view(n * padded_length, channels)
    out = out[:rows]
    out.copy_(flat.as_strided((rows, kernel * channels), (channels, 1)))
    return out


def weight_grad_matrix(
    inputs: torch.Tensor, out_grads: torch.Tensor, kernel: int, cols: torch.Tensor
) -> torch.Tensor:
    """Σ over rows of im2col(input)ᵀ · dS/d(output): (K·C_in, C_out), the weight's layout.

    inputs and out_grads are padded buffers (N, T, C) with zero pad rows; working on every flat
    row avoids copying the out_grads' interiors (the pad rows add zero)."""
    pad = kernel // 2
    n, padded_length, channels = out_grads.shape
    grads = out_grads.view(n * padded_length, channels)[pad : n * padded_length - pad]
    return im2col_flat(inputs, kernel, cols).t() @ grads


def forward_matrix(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Conv weight (K, C_in, C_out) → (K·C_in, C_out) in dtype: y = im2col(x) @ it."""
    kernel, c_in, c_out = weight.shape
    return weight.detach().view(kernel * c_in, c_out).to(dtype)


def backward_matrix(weight: torch.Tensor, dtype: torch.dtype, scale: float = 1.0) -> torch.Tensor:
    """Conv weight (K, C_in, C_out) → (C_in, K·C_out) in dtype, the kernel flipped and scaled:
    dL/dx = scale · F.linear(im2col(dL/dy), it)."""
    kernel, c_in, c_out = weight.shape
    reverse = torch.arange(kernel - 1, -1, -1, device=weight.device)
    flipped = weight.detach().index_select(0, reverse)  # (K, C_in, C_out)
    matrix = torch.empty(c_in, kernel, c_out, dtype=dtype, device=weight.device)
    matrix.copy_(flipped.permute(1, 0, 2))
    if scale != 1.0:
        matrix.mul_(scale)
    return matrix.view(c_in, kernel * c_out)
