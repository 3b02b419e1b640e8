"""Which engine trains a run: `--engine auto` takes the fused one wherever it runs the
configuration, and autograd elsewhere."""

from __future__ import annotations

from torch import nn

from textgan.config import TrainConfig
from textgan.engines.autograd import AutogradEngine
from textgan.engines.fused.engine import FusedEngine, fused_refusal
from textgan.errors import TextganError
from textgan.runtime.device import compute_dtype, conv_impl

Engine = FusedEngine | AutogradEngine


def choose_engine(
    config: TrainConfig, generator: object = None, critic: object = None
) -> tuple[str, str]:
    """(engine name, why): `fused` where it supports the configuration and the models (None:
    the built-in ones), else `autograd`; `--engine fused` on what it does not support is an
    error that says what."""
    refusal = fused_refusal(config, generator, critic)
    if config.engine == "fused":
        if refusal is not None:
            raise TextganError(f"--engine fused cannot train this configuration: {refusal}")
        return "fused", "asked for"
    if config.engine == "autograd":
        return "autograd", "asked for"
    if refusal is None:
        return "fused", "auto: hand-derived gradients run this configuration"
    return "autograd", f"auto: the fused engine cannot ({refusal})"


def build_engine(
    config: TrainConfig, generator: nn.Module, critic: nn.Module, device
) -> tuple[Engine, str]:
    """The engine for a run's models on its device, in the precision (and, fused, the conv
    implementation) its config asks for; and why that engine."""
    name, why = choose_engine(config, generator, critic)
    objective = config.objective()
    dtype = compute_dtype(config.precision, device)
    if name == "autograd":
        return AutogradEngine(generator, critic, objective, dtype), why
    conv = conv_impl(config.conv, device, config.dim, config.seq_len)
    return FusedEngine(generator, critic, objective, dtype, conv), why
