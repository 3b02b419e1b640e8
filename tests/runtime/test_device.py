"""Precision options and what they set: the products' dtype, and TF32 in cuBLAS and cuDNN."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from textgan.config import TrainConfig
from textgan.errors import TextganError
from textgan.runtime.device import (
    PRECISION_CHOICES,
    compute_dtype,
    precision_name,
    set_tf32,
    tf32_kept,
    tf32_settings,
    training_settings,
)
from textgan.training.loop import train
from textgan.training.state import build_state
from textgan.training.steps import make_engine

CPU, CUDA = torch.device("cpu"), torch.device("cuda")  # a device name needs no GPU
BOTH_OFF, BOTH_ON = {"cublas": False, "cudnn": False}, {"cublas": True, "cudnn": True}


@pytest.mark.parametrize("precision", PRECISION_CHOICES)
@pytest.mark.parametrize("device", [CPU, CUDA], ids=["cpu", "cuda"])
def test_only_tf32_on_cuda_allows_tf32_and_in_cublas_and_cudnn_alike(
    precision: str, device: torch.device
) -> None:
    expected = BOTH_ON if (precision, device.type) == ("tf32", "cuda") else BOTH_OFF
    for before in ((False, True), (True, False), (True, True)):  # PyTorch's defaults first
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
        with training_settings(device, precision):
            assert tf32_settings() == expected
            assert torch.backends.cudnn.benchmark == (device.type == "cuda")
        assert tf32_settings() == dict(zip(("cublas", "cudnn"), before, strict=True))
        assert not torch.backends.cudnn.benchmark  # the caller's, restored


def test_the_products_dtype_of_each_precision() -> None:
    for device in (CPU, CUDA):
        assert compute_dtype("fp32", device) is torch.float32
        assert compute_dtype("tf32", device) is torch.float32  # fp32 inputs, TF32 products
        assert compute_dtype("bf16", device) is torch.bfloat16
    with pytest.raises(TextganError, match="auto, fp32, tf32, bf16"):
        compute_dtype("fp16", CPU)


def test_the_precision_named_is_what_the_products_run_in() -> None:
    set_tf32(True)
    assert precision_name(torch.float32, CUDA) == "tf32"
    assert precision_name(torch.float32, CPU) == "fp32"  # no TF32 on a CPU
    assert precision_name(torch.bfloat16, CUDA) == "bf16"
    set_tf32(False)
    assert precision_name(torch.float32, CUDA) == "fp32"


def test_tf32_kept_restores_the_settings_it_found() -> None:
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = True, False
    for allowed in (False, True):
        with tf32_kept(allowed):
            assert tf32_settings() == (BOTH_ON if allowed else BOTH_OFF)
        assert tf32_settings() == {"cublas": True, "cudnn": False}


TINY = dict(dim=8, n_blocks=1, seq_len=12, batch_size=16, critic_iters=2, eval_every=0)


def test_a_run_names_its_precision_and_sets_it(tiny_corpus: Path, device: torch.device) -> None:
    for precision in ("tf32", "fp32"):
        set_tf32(precision != "tf32")  # the opposite of what the run must set
        config = TrainConfig(device=str(device), precision=precision, iters=2, **TINY)
        state, _ = build_state(config, tiny_corpus)
        name = "tf32" if (precision, device.type) == ("tf32", "cuda") else "fp32"
        with training_settings(state.device, precision):
            assert make_engine(state).precision == name
            assert tf32_settings() == (BOTH_ON if name == "tf32" else BOTH_OFF)


@pytest.mark.parametrize("caller", [(True, False), (False, True)])
def test_train_leaves_the_callers_process_settings_as_it_found_them(
    tiny_corpus: Path, tmp_path: Path, device: torch.device, caller: tuple[bool, bool]
) -> None:
    """A Python caller's TF32 flags and cudnn.benchmark are theirs again when train returns,
    whatever the run's precision set meanwhile."""
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = caller
    torch.backends.cudnn.benchmark = caller[1]
    seen = []
    config = TrainConfig(device=str(device), precision="fp32", iters=2, **TINY)
    train(config, tiny_corpus, tmp_path / "run", on_start=lambda info: seen.append(
        (tf32_settings(), info.precision)))  # fmt: skip
    assert seen == [(BOTH_OFF, "fp32")]  # fp32 held TF32 off while training
    assert tf32_settings() == dict(zip(("cublas", "cudnn"), caller, strict=True))
    assert torch.backends.cudnn.benchmark == caller[1]
    torch.backends.cudnn.benchmark = False
