"""Same-padded 1D convolutions on channels-last activations, computed two ways.

Activations that feed a convolution live in padded buffers (N, L + 2·pad, C) whose pad rows stay
zero. A convolution's weight (K, C_in, C_out) (see ConvLayer) is handed over as a matrix
(K·C_in, C_out) with y = im2col(x) @ matrix + bias; its input gradient is the same kind of
convolution with the kernel flipped (backward_taps), and its weight gradient is
Σ over rows of im2col(x)ᵀ · dS/dy, in the weight's layout.

- Im2colConv copies the im2col matrix out of a view of the buffer and multiplies.
- NativeConv hands the buffers, viewed as channels-last images (N, C, 1, L + 2·pad), to the
  framework's convolution kernels (oneDNN on CPUs, cuDNN on CUDA): no im2col copies. Its matrices
  must be transposed views of dense (C_out, K·C_in) tensors, the layout those kernels take.
- WinogradConv computes tiles of 4 outputs with Winograd's minimal filtering: 2.5× fewer
  multiply-adds at K = 5, for transforms that are memory passes.

All compute the same sums; which is faster depends on the hardware and the width
(device.conv_impl).
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from fractions import Fraction

import torch
import torch.nn.functional as F

from textgan.runtime.device import WINOGRAD_TILE


def wide(dtype: torch.dtype) -> torch.dtype:
    """The dtype losses, norms and gradients are kept in: fp32 (fp64 when computing in fp64)."""
    return torch.promote_types(dtype, torch.float32)


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


# Toom–Cook interpolation points, in the order they are taken (∞ is always one more): small and
# exact in binary, as Lavin & Gray (2016) use them; for K = 5 the first seven
WINOGRAD_POINTS = tuple(map(Fraction, (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2), 4, -4,
                                       Fraction(1, 4), Fraction(-1, 4))))  # fmt: skip


def toom_cook(m: int, r: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Aᵀ (m, α), G (α, r), Bᵀ (α, α) in float64, α = m + r − 1, with
    Σ_k d[j + k]·g[k] = (Aᵀ((G g) ⊙ (Bᵀ d)))[j] for j < m and any d of length α.

    G and Aᵀ evaluate polynomials of r and m coefficients at the points and ∞; Bᵀ is the inverse
    transposed of that evaluation for α coefficients (the correlation is the transpose of the
    polynomial product they compute). Exact: computed in fractions."""
    alpha = m + r - 1
    points = WINOGRAD_POINTS[: alpha - 1]
    if len(points) < alpha - 1:
        raise ValueError(f"no Winograd points for {m} outputs of a {r}-tap kernel")

    def evaluation(n: int) -> list[list[Fraction]]:
        infinity = [Fraction(0)] * (n - 1) + [Fraction(1)]
        return [[p**i for i in range(n)] for p in points] + [infinity]

    def tensor(rows: list[list[Fraction]]) -> torch.Tensor:
        return torch.tensor([[float(v) for v in row] for row in rows], dtype=torch.float64)

    return tensor(evaluation(m)).t(), tensor(evaluation(r)), tensor(_inverse(evaluation(alpha))).t()


def _inverse(matrix: list[list[Fraction]]) -> list[list[Fraction]]:
    """Gauss–Jordan elimination, exact in fractions."""
    n = len(matrix)
    rows = [row[:] + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(i for i in range(col, n) if rows[i][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        rows[col] = [v / rows[col][col] for v in rows[col]]
        for i in range(n):
            if i != col and rows[i][col] != 0:
                rows[i] = [a - rows[i][col] * b for a, b in zip(rows[i], rows[col], strict=True)]
    return [row[n:] for row in rows]


@dataclass(frozen=True)
class WinogradTransforms:
    """The transforms of one kernel width in a compute dtype.

    Bᵀ's rows are scaled to small exact binary numbers (its row a by s_a, G's by 1/s_a, the
    weight gradient's Aᵀ columns by 1/s_a), so the data-side transforms, run in the compute dtype,
    are exact matrices; the weight-side ones run in the wide dtype."""

    bt: torch.Tensor  # (α, α), compute dtype: tiles of inputs
    g: torch.Tensor  # (α, K), wide: the weights
    at: torch.Tensor  # (m, α), compute dtype: products → outputs
    grad_g: torch.Tensor  # (α, m), compute dtype: tiles of output gradients
    grad_at: torch.Tensor  # (K, α), wide: products → weight gradient taps

    @classmethod
    @functools.cache
    def of(cls, kernel: int, tile: int, dtype: torch.dtype, device) -> WinogradTransforms:
        """Made once per process and device (cached): they come from the host, and a step that
        makes buffers for a new batch shape must not copy them again."""
        at, g, bt = toom_cook(tile, kernel)
        grad_at, grad_g, grad_bt = toom_cook(kernel, tile)  # the weight gradient's correlation
        assert torch.equal(bt, grad_bt)  # Bᵀ depends on α and the points only
        scale = 1 / bt.abs().where(bt != 0, torch.inf).amin(1, keepdim=True)  # (α, 1)
        return cls((bt * scale).to(device, dtype), (g / scale).to(device, wide(dtype)),
                   at.to(device, dtype), grad_g.to(device, dtype),
                   (grad_at / scale.t()).to(device, wide(dtype)))  # fmt: skip


class WinogradConv:
    """Convolutions by Winograd's minimal filtering F(m, K) on tiles of m = 4 outputs (Lavin &
    Gray 2016): per tile, α = m + K − 1 products of channel vectors with transformed weights
    instead of m·K (8 against 20 at K = 5), as α batched matrix products over all tiles, between
    an input transform and an output transform (small matrix products, memory passes).

    Weight gradients use F(K, m) the same way, summed over tiles inside the products. The
    transformed weights are cached per weight matrix and made again when its contents change (its
    version counter). Lengths that are not a multiple of m run as im2col products."""

    def __init__(
        self, rows: int, width: int, dtype: torch.dtype, device, tile: int = WINOGRAD_TILE
    ) -> None:
        """rows, width, dtype, device: the im2col scratch of the fallback (made when needed)."""
        self._scratch, self.tile = (rows, width, dtype, torch.device(device)), tile
        self._fallback: Im2colConv | None = None
        self._weights: dict[int, tuple[weakref.ref, int, torch.Tensor]] = {}

    def __call__(
        self, x: Padded, matrix: torch.Tensor, bias: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(N·L, C_out): the convolution of x's interior rows."""
        n, length, _ = x.interior.shape
        if length % self.tile:
            return self.fallback(x, matrix, bias)
        t = self.transforms(x)
        u = self._input_tiles(x, t)  # (α, N·tiles, C_in)
        products = torch.bmm(u, self._weight(matrix, x.kernel, t))  # (α, N·tiles, C_out)
        c_out, alpha = matrix.shape[1], t.bt.shape[0]
        y = (t.at @ products.view(alpha, -1)).view(self.tile, n, -1, c_out)  # (m, N, tiles, C)
        out = torch.empty(n, length // self.tile, self.tile, c_out, dtype=y.dtype,
                          device=y.device)  # fmt: skip
        if bias is None:
            out.permute(2, 0, 1, 3).copy_(y)
        else:
            torch.add(y, bias, out=out.permute(2, 0, 1, 3))
        return out.view(n * length, c_out)

    def weight_grad(self, inputs: Padded, out_grads: Padded, dtype: torch.dtype) -> torch.Tensor:
        """Σ over rows of im2col(input)ᵀ · dS/d(output), (K, C_in, C_out) in dtype."""
        n, length, c_out = out_grads.interior.shape
        if length % self.tile:
            return self.fallback.weight_grad(inputs, out_grads, dtype)
        t = self.transforms(inputs)
        u = self._input_tiles(inputs, t)  # (α, N·tiles, C_in)
        tiles = out_grads.interior.reshape(n, -1, self.tile, c_out).permute(2, 0, 1, 3)
        v = t.grad_g @ tiles.reshape(self.tile, -1)  # (α, N·tiles·C_out)
        products = torch.bmm(u.transpose(1, 2), v.view(u.shape[0], -1, c_out))  # (α, C_in, C_out)
        grad = t.grad_at @ products.view(u.shape[0], -1).to(t.grad_at.dtype)  # (K, C_in·C_out)
        return grad.to(dtype).view(inputs.kernel, -1, c_out)

    @property
    def fallback(self) -> Im2colConv:
        if self._fallback is None:
            self._fallback = Im2colConv(Im2col(*self._scratch))
        return self._fallback

    def transforms(self, x: Padded) -> WinogradTransforms:
        return WinogradTransforms.of(x.kernel, self.tile, x.buffer.dtype, x.buffer.device)

    def _input_tiles(self, x: Padded, t: WinogradTransforms) -> torch.Tensor:
        """Bᵀ applied to every tile of α rows (stride m) of x's buffer: (α, N·tiles, C)."""
        alpha, channels = t.bt.shape[0], x.buffer.shape[2]
        windows = x.buffer.unfold(1, alpha, self.tile)  # (N, tiles, C, α)
        d = windows.permute(3, 0, 1, 2).reshape(alpha, -1)  # (α, N·tiles·C), a copy
        return (t.bt @ d).view(alpha, -1, channels)

    def _weight(self, matrix: torch.Tensor, kernel: int, t: WinogradTransforms) -> torch.Tensor:
        """G applied to the kernel taps of a (K·C_in, C_out) matrix: (α, C_in, C_out)."""
        cached = self._weights.get(id(matrix))
        if cached is not None and cached[0]() is matrix and cached[1] == matrix._version:
            return cached[2]
        k_c_in, c_out = matrix.shape
        c_in = k_c_in // kernel
        if matrix.t().is_contiguous():  # a transposed view: transform the dense tensor's taps
            dense = matrix.t().view(c_out, kernel, c_in).transpose(0, 1)  # (K, C_out, C_in)
            taps = torch.empty(dense.shape, dtype=t.g.dtype, device=matrix.device).copy_(dense)
            weight = (t.g @ taps.view(kernel, -1)).to(matrix.dtype)  # (α, C_out·C_in)
            weight = weight.view(-1, c_out, c_in).transpose(1, 2)  # a transposed view again
        else:
            taps = matrix.reshape(kernel, -1).to(t.g.dtype)  # (K, C_in·C_out)
            weight = (t.g @ taps).to(matrix.dtype).view(-1, c_in, c_out)
        key = id(matrix)
        forget = weakref.ref(matrix, lambda _: self._weights.pop(key, None))
        self._weights[key] = (forget, matrix._version, weight)
        return weight


ConvImpl = Im2colConv | NativeConv | WinogradConv


def make_conv(impl: str, rows: int, width: int, dtype: torch.dtype, device) -> ConvImpl:
    """The convolutions of `impl` for up to `rows` padded rows of im2col width K·C."""
    if impl == "im2col":
        return Im2colConv(Im2col(rows, width, dtype, torch.device(device)))
    if impl == "native":
        return NativeConv()
    if impl == "winograd":
        return WinogradConv(rows, width, dtype, device)
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
