"""Same-padded 1D convolutions on channels-last activations, computed two ways.

Activations that feed a convolution live in padded buffers (N, L + 2·pad, C) whose pad rows stay
zero. A convolution's weight (K, C_in, C_out) (see model.Conv) is handed over as a matrix
(K·C_in, C_out) with y = im2col(x) @ matrix + bias; its input gradient is the same kind of
convolution with the kernel flipped (backward_taps), and its weight gradient is
Σ over rows of im2col(x)ᵀ · dS/dy, in the weight's layout.

- Im2colConv copies the im2col matrix out of a view of the buffer and multiplies.
- NativeConv hands the buffers, viewed as channels-last images (N, C, 1, L + 2·pad), to the
  framework's convolution kernels (oneDNN on CPUs, cuDNN on CUDA): no im2col copies. Its matrices
  must be transposed views of dense (C_out, K·C_in) tensors, the layout those kernels take.

Both compute the same sums; which is faster depends on the hardware (device.conv_impl).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CONV_IMPLS = ("im2col", "native")


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
        # ones centred on pad rows mix neighbouring samples (see Im2colConv.weight_grad)
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


class Im2colConv:
    """Convolutions as an im2col copy and one matrix product."""

    def __init__(self, cols: Im2col) -> None:
        self.cols = cols

    def __call__(
        self, x: Padded, matrix: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(N·L, C_out): the convolution of x's interior rows."""
        cols = self.cols(x)  # (N·L, K·C_in)
        return cols @ matrix if bias is None else torch.addmm(bias, cols, matrix)

    def weight_grad(self, inputs: Padded, out_grads: Padded, dtype: torch.dtype) -> torch.Tensor:
        """Σ over rows of im2col(input)ᵀ · dS/d(output), (K, C_in, C_out) in dtype.

        Works on every flat row, so nothing is copied out of out_grads: the rows centred on pad
        rows are multiplied by out_grads' pad rows, which are zero."""
        grad = self.cols.flat(inputs).t() @ out_grads.flat_centres  # (K·C_in, C_out)
        return grad.to(dtype).view(inputs.kernel, -1, grad.shape[1])


class NativeConv:
    """Convolutions by the framework's kernels on the padded buffers seen as channels-last
    images (N, C, 1, L + 2·pad), with no padding of their own: nothing is copied."""

    def __init__(self) -> None:
        self._shapes: dict[tuple, torch.Tensor] = {}

    def __call__(
        self, x: Padded, matrix: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(N·L, C_out): the convolution of x's interior rows."""
        c_in, c_out = x.buffer.shape[2], matrix.shape[1]
        weight = matrix.t().view(c_out, x.kernel, c_in).permute(0, 2, 1).unsqueeze(2)
        y = F.conv2d(image(x.buffer), weight, bias)  # (N, C_out, 1, L), channels-last
        return y.permute(0, 2, 3, 1).reshape(-1, c_out)

    def weight_grad(self, inputs: Padded, out_grads: Padded, dtype: torch.dtype) -> torch.Tensor:
        """Σ over rows of im2col(input)ᵀ · dS/d(output), (K, C_in, C_out) in dtype.

        All N rows as one long sequence (1, C, 1, N·T): the outputs centred on pad rows mix
        neighbouring samples, but their gradients, out_grads' pad rows, are zero."""
        k, c_in = inputs.kernel, inputs.buffer.shape[2]
        grads = out_grads.flat_centres  # (N·T − 2·pad, C_out)
        c_out = grads.shape[1]
        like = self._weight_like(c_out, c_in, k, grads)
        x = image(inputs.buffer.view(1, -1, c_in))  # (1, C_in, 1, N·T)
        grad = torch.ops.aten.convolution_backward(
            image(grads.unsqueeze(0)), x, like, None, (1, 1), (0, 0), (1, 1), False, (0, 0), 1,
            (False, True, False),
        )[1]  # (C_out, C_in, 1, K)  # fmt: skip
        out = torch.empty(k, c_in, c_out, dtype=dtype, device=grad.device)
        return out.copy_(grad.squeeze(2).permute(2, 1, 0))

    def _weight_like(self, c_out: int, c_in: int, k: int, like: torch.Tensor) -> torch.Tensor:
        """A weight of the conv's shape, layout and dtype: convolution_backward reads only those
        when asked for the weight gradient alone."""
        key = (c_out, c_in, k, like.dtype, like.device)
        if key not in self._shapes:
            self._shapes[key] = torch.empty((c_out, c_in, 1, k), dtype=like.dtype,
                                            device=like.device,
                                            memory_format=torch.channels_last)  # fmt: skip
        return self._shapes[key]


Conv = Im2colConv | NativeConv


def make_conv(impl: str, rows: int, width: int, dtype: torch.dtype, device) -> Conv:
    """The convolutions of `impl` for up to `rows` padded rows of im2col width K·C."""
    if impl == "im2col":
        return Im2colConv(Im2col(rows, width, dtype, torch.device(device)))
    if impl == "native":
        return NativeConv()
    raise ValueError(f"unknown convolution implementation {impl!r}")


def image(buffer: torch.Tensor) -> torch.Tensor:
    """(N, T, C) channels-last rows → the same memory as an (N, C, 1, T) channels-last image."""
    return buffer.permute(0, 2, 1).unsqueeze(2)


def copy_all(destinations: list[torch.Tensor], sources: list[torch.Tensor]) -> None:
    """destination[i] ← source[i] for all i, with dtype conversion, in one call."""
    torch._foreach_copy_(destinations, sources)


def forward_matrix(weight: torch.Tensor) -> torch.Tensor:
    """Conv weight (K, C_in, C_out) → the (K·C_in, C_out) view with y = im2col(x) @ it."""
    kernel, c_in, c_out = weight.shape
    return weight.detach().view(kernel * c_in, c_out)


def matrix_storage(shape: tuple[int, int], impl: str, dtype: torch.dtype, device) -> torch.Tensor:
    """An empty (K·C_in, C_out) conv matrix laid out for impl: dense for im2col, a transposed
    view of a dense (C_out, K·C_in) tensor for native."""
    if impl == "native":
        return torch.empty(shape[::-1], dtype=dtype, device=device).t()
    return torch.empty(shape, dtype=dtype, device=device)


def backward_taps(
    weight: torch.Tensor, backward: torch.Tensor
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The (destination, source) views whose copy (copy_all) makes backward, a (K·C_out, C_in)
    matrix with dL/dx = im2col(dL/dy) @ backward, from a conv weight (K, C_in, C_out): the
    kernel flipped, each tap transposed. backward is a transposed view of a dense tensor."""
    kernel, c_in, c_out = weight.shape
    taps = backward.t().view(c_in, kernel, c_out)
    destinations = [taps[:, k] for k in range(kernel)]
    return destinations, [weight.detach()[kernel - 1 - k] for k in range(kernel)]
