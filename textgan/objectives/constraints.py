"""Keeping the critic Lipschitz without a penalty: weight clipping (WGAN, Arjovsky et al. 2017)
and spectral normalisation (Miyato et al. 2018)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from textgan.models.resnet import ConvLayer


@torch.no_grad()
def clip_weights(module: nn.Module, bound: float) -> None:
    """Clamp every parameter of module (weights and biases) to [−bound, bound], in place."""
    for param in module.parameters():
        param.clamp_(-bound, bound)


def spectral_normalize(module: nn.Module, seed: int) -> nn.Module:
    """Spectral normalisation of every weight of module's ConvLayers and Linear layers: each is
    divided by its largest singular value, estimated by one power iteration per training forward.

    A ConvLayer's weight is stored (kernel, in, out): its matrix is (out, kernel·in), so dim=2;
    the default dim=0 would take a meaningless (kernel, in·out) matrix. The power iterations'
    starting vectors are drawn from seed, so a run is reproducible."""
    layers = [m for m in module.modules() if isinstance(m, ConvLayer | nn.Linear)]
    for index, layer in enumerate(layers):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 1000 + index)
            spectral_norm(layer, "weight", dim=2 if isinstance(layer, ConvLayer) else 0)
    return module


def weight_matrix(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """The (weight.shape[dim], rest) matrix whose spectral norm spectral_normalize divides by."""
    return weight.movedim(dim, 0).flatten(1)
