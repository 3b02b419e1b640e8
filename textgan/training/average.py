"""An exponential moving average of the generator's weights (Yazıcı et al. 2019, "The Unusual
Effectiveness of Averaging in GAN Training"): after each generator step,
ema ← decay·ema + (1 − decay)·generator over every parameter and floating-point buffer, in the
weights' own dtype (fp32), on their device, without reading anything back to the host."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_average(generator: nn.Module) -> nn.Module:
    """An exact copy of generator that takes no gradient: the average's start."""
    average = copy.deepcopy(generator)
    for param in average.parameters():
        param.requires_grad_(False)
    return average


@torch.no_grad()
def update_average(average: nn.Module, generator: nn.Module, decay: float) -> None:
    """average ← decay·average + (1 − decay)·generator; decay 0 copies generator exactly."""
    ema = [*average.parameters(), *_float_buffers(average)]
    new = [*generator.parameters(), *_float_buffers(generator)]
    if decay == 0.0:
        torch._foreach_copy_(ema, new)
    else:
        torch._foreach_lerp_(ema, new, 1.0 - decay)  # ema + (1 − decay)·(new − ema)


def _float_buffers(module: nn.Module) -> list[torch.Tensor]:
    return [b for b in module.buffers() if b.is_floating_point()]
