"""Keeping the critic Lipschitz without a penalty: weight clipping (WGAN, Arjovsky et al. 2017)
and spectral normalisation (Miyato et al. 2018)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from textgan.objectives.kinds import Constraint, Parameter


@torch.no_grad()
def clip_weights(module: nn.Module, bound: float) -> None:
    """Clamp every parameter of module (weights and biases) to [−bound, bound], in place."""
    for param in module.parameters():
        param.clamp_(-bound, bound)


def spectral_normalize(module: nn.Module, seed: int) -> nn.Module:
    """Spectral normalisation of the weight of every layer of module that is an nn.Linear or
    declares `spectral_norm_dim` (the dim of its weight that indexes the outputs): each is
    divided by its largest singular value, estimated by one power iteration per training forward.

    The built-in ConvLayer stores its weight (kernel, in, out) and declares dim 2: its matrix is
    (out, kernel·in); the default dim=0 would take a meaningless (kernel, in·out) matrix. The
    power iterations' starting vectors are drawn from seed, so a run is reproducible."""
    layers = [m for m in module.modules() if _output_dim(m) is not None]
    for index, layer in enumerate(layers):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 1000 + index)
            spectral_norm(layer, "weight", dim=_output_dim(layer))
    return module


def _output_dim(layer: nn.Module) -> int | None:
    if isinstance(layer, nn.Linear):
        return 0
    return getattr(layer, "spectral_norm_dim", None)


def weight_matrix(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """The (weight.shape[dim], rest) matrix whose spectral norm spectral_normalize divides by."""
    return weight.movedim(dim, 0).flatten(1)


CLIP = Constraint(
    name="clip",
    summary="weight clipping",
    after_step=clip_weights,
    parameter=Parameter(field="clip", default=0.01, positive=True),  # the WGAN paper's c
)
SPECTRAL_NORM = Constraint(
    name="sn",
    summary="spectral norm",
    wrap=spectral_normalize,
    fused=False,  # the fused engine derives the plain weights' gradients only
)
NO_CONSTRAINT = Constraint(name="none", summary="nothing")
