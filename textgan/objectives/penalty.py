"""Gradient penalties: where they are taken (x̂ between real and fake), the two-sided penalty of
WGAN-GP (Gulrajani et al. 2017) and the one-sided one of WGAN-LP (Petzka et al. 2018), each with
its derivative with respect to the critic's input gradient, written once here."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from textgan.objectives.kinds import Constraint, Parameter
from textgan.runtime.device import at_least_fp32

GRAD_NORM_EPS = 1e-12  # keeps d‖g‖/dg finite at g = 0

ScoreFn = Callable[[torch.Tensor], torch.Tensor]  # a critic: (B, L, V) → (B,)


def interpolate(real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """x̂ = real + α·(fake − real) with one α per sample: (B, L, V), α of shape (B,) or (B, 1, 1)."""
    alpha = alpha.reshape(-1, *([1] * (real.dim() - 1))).to(real.dtype)  # (B, 1, 1)
    return real + alpha * (fake - real)


def sample_alpha(batch: int, device: torch.device, rng: torch.Generator | None) -> torch.Tensor:
    """α ~ U(0, 1), one per sample: (B,), fp32."""
    return torch.rand(batch, generator=rng, device=device, dtype=torch.float32)


def penalty(
    grad: torch.Tensor, with_adjoint: bool = False, *, one_sided: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """P = mean over samples of (‖g‖₂ − 1)² — one_sided: of max(0, ‖g‖₂ − 1)² — for the critic's
    input gradients g (B, L, V); the norm over ALL positions and vocabulary entries of a sample,
    with GRAD_NORM_EPS inside the square root; in fp32 at least.

    P is differentiable by autograd. with_adjoint: also dP/dg = 2/B · e/‖g‖ · g (B, L, V), e the
    excess (‖g‖ − 1, or its positive part), which the fused engine pushes back through the critic
    by hand; else None."""
    grad = at_least_fp32(grad)
    norms = torch.sqrt(grad.flatten(1).square().sum(dim=1) + GRAD_NORM_EPS)  # (B,)
    excess = (norms - 1.0).clamp_min(0.0) if one_sided else norms - 1.0  # (B,)
    value = excess.square().mean()
    if not with_adjoint:
        return value, None
    scale = 2.0 / grad.shape[0] * excess / norms  # (B,)
    return value, grad * scale.view(-1, *([1] * (grad.dim() - 1)))


def gradient_penalty(
    critic: ScoreFn,
    real: torch.Tensor,
    fake: torch.Tensor,
    rng: torch.Generator | None = None,
    alpha: torch.Tensor | None = None,
    *,
    one_sided: bool = False,
    penalty_fn: Callable[..., tuple[torch.Tensor, torch.Tensor | None]] | None = None,
) -> torch.Tensor:
    """The UNWEIGHTED penalty E[(‖∇x̂ D(x̂)‖₂ − 1)²] (one_sided: E[max(0, ‖∇x̂ D(x̂)‖₂ − 1)²];
    penalty_fn: a constraint's own function of the input gradients instead), differentiable
    w.r.t. the critic.

    α is drawn from rng, one per sample, unless given (B,).
    """
    if alpha is None:
        alpha = sample_alpha(real.shape[0], real.device, rng)
    x_hat = interpolate(real, fake.detach(), alpha).requires_grad_(True)  # (B, L, V)
    scores = critic(x_hat)  # (B,)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # (B, L, V)
    if penalty_fn is None:
        return penalty(grad, one_sided=one_sided)[0]
    return penalty_fn(grad, False)[0]


# λ, the paper's weight of the penalty: the default of --gp-weight for gp and lp
GP_WEIGHT = Parameter(field="gp_weight", default=10.0, positive=False)

GP = Constraint(
    name="gp",
    summary="two-sided gradient penalty",
    penalty=partial(penalty, one_sided=False),
    parameter=GP_WEIGHT,
)
LP = Constraint(
    name="lp",
    summary="one-sided gradient penalty",
    penalty=partial(penalty, one_sided=True),
    parameter=GP_WEIGHT,
)
