"""Device, precision and convolution choice: the options' choices and their one check."""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator

import torch

from textgan.errors import TextganError

DEVICE_CHOICES = ("auto", "cpu", "cuda")  # and cuda:N
PRECISION_CHOICES = ("auto", "fp32", "tf32", "bf16")
CONV_IMPLS = ("im2col", "native", "winograd")  # how the fused engine's convolutions run
CONV_CHOICES = ("auto", *CONV_IMPLS)
WINOGRAD_TILE = 4  # outputs per tile of --conv winograd: --seq-len must be a multiple
WINOGRAD_MIN_DIM = 256  # where --conv auto picks winograd (conv_impl)


def check_device_name(name: str) -> None:
    """--device is auto, cpu, cuda or cuda:N (whether that GPU exists is resolve_device's)."""
    index = name.removeprefix("cuda:")
    if name not in DEVICE_CHOICES and not (name.startswith("cuda:") and index.isdigit()):
        raise TextganError(f"--device must be one of {', '.join(DEVICE_CHOICES)} (or cuda:N), "
                           f"got {name!r}")  # fmt: skip


def check_precision(precision: str) -> None:
    check_choice("precision", precision, PRECISION_CHOICES)


def check_conv(conv: str, seq_len: int) -> None:
    """--conv is one of CONV_CHOICES; winograd's tiles need seq_len a multiple of theirs."""
    check_choice("conv", conv, CONV_CHOICES)
    if conv == "winograd" and seq_len % WINOGRAD_TILE:
        raise TextganError(
            f"--conv winograd computes tiles of {WINOGRAD_TILE} positions: --seq-len must "
            f"be a multiple of {WINOGRAD_TILE}, got {seq_len}"
        )


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    """value is one of choices, else an error naming the option (--name) and its choices."""
    if value not in choices:
        flag = "--" + name.replace("_", "-")
        raise TextganError(f"{flag} must be one of {', '.join(choices)}, got {value!r}")


def resolve_device(name: str) -> torch.device:
    """`auto` → cuda when available, else cpu; asking for a missing GPU is an error."""
    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TextganError(f"--device {name} was asked for, but CUDA is not available here")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise TextganError(
                f"--device {name}: this machine has {torch.cuda.device_count()} GPU(s)"
            )
        return device
    return torch.device("cpu")


def fast_bf16(device: torch.device) -> bool:
    """Whether bf16 matmuls/convs are native here: CUDA sm80+, or a CPU with AMX tiles or
    AVX512-BF16 dot products (there bf16 convs ran 2.5-3.5x the fp32 ones; on plain AVX2 or
    AVX-512 they are emulated and far slower than fp32)."""
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device)[0] >= 8
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(torch.cpu, name, _no)()) for name in checks)


def compute_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype of the training's matrix products for a precision option (tf32: fp32 inputs,
    which CUDA may multiply as TF32, see tf32_allowed)."""
    check_precision(precision)
    if precision == "auto":
        precision = "bf16" if fast_bf16(device) else "fp32"
    return torch.bfloat16 if precision == "bf16" else torch.float32


def at_least_fp32(tensor: torch.Tensor) -> torch.Tensor:
    """tensor in fp32 when it is narrower (bf16, fp16), else as it is (fp32, fp64): losses,
    softmaxes and norms are never computed in bf16."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


def tf32_allowed(precision: str, device: torch.device) -> bool:
    """Whether a precision option lets fp32 products run as TF32 (a 10-bit mantissa): only
    `tf32`, only on CUDA. Every other option keeps fp32 work IEEE fp32 in every kernel, cuBLAS
    and cuDNN alike (PyTorch's defaults differ: TF32 off in cuBLAS, on in cuDNN)."""
    return precision == "tf32" and device.type == "cuda"


def precision_name(dtype: torch.dtype, device: torch.device) -> str:
    """What a training's products run in: bf16; tf32 (fp32 inputs, TF32 allowed on CUDA now);
    else fp32."""
    if dtype == torch.bfloat16:
        return "bf16"
    if device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return "fp32"


def set_tf32(allowed: bool) -> None:
    """Allow TF32 in cuBLAS products and cuDNN convolutions, or keep both IEEE fp32."""
    torch.backends.cuda.matmul.allow_tf32 = allowed
    torch.backends.cudnn.allow_tf32 = allowed


def tf32_settings() -> dict[str, bool]:
    """Whether cuBLAS and cuDNN may use TF32 for fp32 work in this process."""
    return {"cublas": torch.backends.cuda.matmul.allow_tf32,
            "cudnn": torch.backends.cudnn.allow_tf32}  # fmt: skip


@contextlib.contextmanager
def tf32_kept(allowed: bool) -> Iterator[None]:
    """set_tf32(allowed) inside the block; the previous settings after it."""
    previous = tf32_settings()
    set_tf32(allowed)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous["cublas"]
        torch.backends.cudnn.allow_tf32 = previous["cudnn"]


def conv_impl(option: str, device: torch.device, dim: int, seq_len: int) -> str:
    """How the training convs run for a --conv option (conv.CONV_IMPLS): "im2col" (an im2col copy
    and one matrix product each), "native" (the framework's convolution kernels on the same
    buffers) or "winograd" (tiles of 4 outputs by Winograd's minimal filtering).

    auto, on CPUs with oneDNN but without AMX tiles: winograd from WINOGRAD_MIN_DIM channels when
    seq_len is a multiple of its tile (on a Zen 4, 1.5x faster iterations than native at dim 512,
    1.11-1.27x at 256; at 128 0.88x: its transforms, memory passes, cost more than its 2.5x fewer
    multiply-adds save), else native, where oneDNN's convolutions beat the im2col copies and
    products (at dim 128, 1.3x faster iterations on a Zen 4 in bf16 and in fp32). im2col on AMX
    CPUs, where oneDNN's products beat its convolutions (weight gradients most: 1.4 against 2.1
    ms at dim 128), on CUDA, and without oneDNN."""
    check_choice("conv", option, CONV_CHOICES)  # seq_len's fit: TrainConfig checked it
    if option == "auto":
        if device.type != "cpu" or not torch.backends.mkldnn.is_available():
            return "im2col"
        if bool(getattr(torch.cpu, "_is_amx_tile_supported", _no)()):
            return "im2col"
        if dim >= WINOGRAD_MIN_DIM and seq_len % WINOGRAD_TILE == 0:
            return "winograd"
        return "native"
    return option


def _no() -> bool:
    return False


@contextlib.contextmanager
def training_settings(device: torch.device, precision: str) -> Iterator[None]:
    """Inside the block, the process settings a training run needs: TF32 as its precision
    option says (tf32_allowed) and, on CUDA, cuDNN's benchmark mode (a run's shapes never
    change). After it, the settings the caller had, so `textgan.train()` leaves a Python
    caller's process as it found it."""
    benchmark = torch.backends.cudnn.benchmark
    with tf32_kept(tf32_allowed(precision, device)):
        torch.backends.cudnn.benchmark = benchmark or device.type == "cuda"
        try:
            yield
        finally:
            torch.backends.cudnn.benchmark = benchmark


def keep_freed_memory() -> None:
    """Have glibc keep freed blocks of up to 32 MiB in the heap instead of returning them to the
    OS: otherwise each step of a CPU training pays page faults to get them back (about 5%).
    Elsewhere than glibc this does nothing. It cannot be undone, so the library never calls it:
    the command line does, for its training process."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    mallopt(m_mmap_threshold, 32 << 20)  # the largest glibc accepts
    mallopt(m_trim_threshold, 1 << 30)
