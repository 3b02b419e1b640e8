"""Same-padded 1D convolutions on channels-last activations, as one matrix product each.

Activations that feed a convolution live in padded buffers (N, L + 2·pad, C) whose pad rows stay
zero, so the im2col matrix is one copy of a view. A convolution (weight (K, C_in, C_out), see
model.Conv) is then im2col (N·L, K·C_in) @ weight.view(K·C_in, C_out); its input gradient is the
same kind of product with the kernel flipped (backward_taps), and its weight gradient
im2colᵀ @ the output gradient (weight_grad_matrix), already in the weight's layout.
"""

from __future__ import annotations

import torch


class Padded:
    """A zero-padded activation buffer (N, L + 2·pad, C) and its fixed views.

    Activations are written into .interior and the pad rows stay zero, so an im2col matrix is
    one copy of the .windows view (Im2col)."""

    def __init__(self, buffer: torch.Tensor, kernel: int) -> None:
        n, padded_length, channels = buffer.shape
        pad = kernel // 2
        self.buffer, self.kernel = buffer, kernel
        self.interior = buffer[:, pad : padded_length - pad]  # (N, L, C)
        self.windows = buffer.unfold(1, kernel, 1).transpose(2, 3)  # (N, L, K, C)
        # the windows of every flat row but the first and last pad ones, and those rows: the
        # ones centred on pad rows mix neighbouring samples (see weight_grad_matrix)
        flat = buffer.view(n * padded_length, channels)
        rows = n * padded_length - 2 * pad
        self.flat_windows = flat.as_strided((rows, kernel * channels), (channels, 1))
        self.flat_centres = flat[pad : pad + rows]  # (rows, C)

    @classmethod
    def zeros(
        cls, n: int, length: int, channels: int, kernel: int, dtype: torch.dtype, device
    ) -> Padded:
        pad = kernel // 2
        buffer = torch.zeros(n, length + 2 * pad, channels, dtype=dtype, device=device)
        return cls(buffer, kernel)

    def rows(self, selection: slice) -> Padded:
        """The same views for some of the N rows."""
        return Padded(self.buffer[selection], self.kernel)


class Im2col:
    """A scratch matrix that im2col copies go to (one at a time)."""

    def __init__(self, rows: int, width: int, dtype: torch.dtype, device: torch.device) -> None:
        self.data = torch.empty(rows, width, dtype=dtype, device=device)
        self._targets: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, x: Padded) -> torch.Tensor:
        """(N·L, K·C): row (n, t) holds x[n, t − pad : t + pad + 1]."""
        shape = tuple(x.windows.shape)  # (N, L, K, C)
        if shape not in self._targets:
            matrix = self.data[: shape[0] * shape[1]]
            self._targets[shape] = (matrix, matrix.view(shape))
        matrix, target = self._targets[shape]
        target.copy_(x.windows)
        return matrix

    def flat(self, x: Padded) -> torch.Tensor:
        """(N·T − 2·pad, K·C): x.flat_windows."""
        matrix = self.data[: x.flat_windows.shape[0]]
        return matrix.copy_(x.flat_windows)


def weight_grad_matrix(inputs: Padded, out_grads: Padded, cols: Im2col) -> torch.Tensor:
    """Σ over rows of im2col(input)ᵀ · dS/d(output): (K·C_in, C_out), the weight's layout.

    Works on every flat row, so nothing is copied out of out_grads: the rows centred on pad rows
    are multiplied by out_grads' pad rows, which are zero."""
    return cols.flat(inputs).t() @ out_grads.flat_centres


def copy_all(destinations: list[torch.Tensor], sources: list[torch.Tensor]) -> None:
    """destination[i] ← source[i] for all i, with dtype conversion, in one call."""
    torch._foreach_copy_(destinations, sources)


def forward_matrix(weight: torch.Tensor) -> torch.Tensor:
    """Conv weight (K, C_in, C_out) → the (K·C_in, C_out) view with y = im2col(x) @ it."""
    kernel, c_in, c_out = weight.shape
    return weight.detach().view(kernel * c_in, c_out)


def backward_taps(
    forward: torch.Tensor, backward: torch.Tensor, kernel: int
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The (destination, source) views whose copy (copy_all) makes backward, a (C_in, K·C_out)
    matrix with dL/dx = F.linear(im2col(dL/dy), backward), from forward (K·C_in, C_out): the
    kernel flipped, each tap transposed."""
    rows, c_out = forward.shape
    c_in = rows // kernel
    taps = forward.view(kernel, c_in, c_out)
    destinations = [backward.view(c_in, kernel, c_out)[:, k] for k in range(kernel)]
    return destinations, [taps[kernel - 1 - k] for k in range(kernel)]
