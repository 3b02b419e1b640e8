"""Each loss and penalty against a hand computation: the standard GAN, hinge and Wasserstein
terms on given scores; the one-sided penalty's zero region; the penalties' adjoints."""

import math

import pytest
import torch
from conftest import linear_critic, one_hot_batch, simplex_batch

from textgan.config import TrainConfig
from textgan.objectives import gan, hinge, wasserstein
from textgan.objectives.losses import Objective, critic_loss, generator_loss
from textgan.objectives.penalty import gradient_penalty, penalty

REAL = torch.tensor([2.0, -0.5, 0.3], dtype=torch.float64)  # D(real)
FAKE = torch.tensor([-1.5, 0.8, 1.2], dtype=torch.float64)  # D(fake)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def test_loss_terms_by_hand() -> None:
    real, fake = REAL.tolist(), FAKE.tolist()
    cases = {
        (wasserstein, "critic"): mean(fake) - mean(real),
        (wasserstein, "generator"): -mean(fake),
        (gan, "critic"): mean(softplus(-r) for r in real) + mean(softplus(f) for f in fake),
        (gan, "generator"): mean(softplus(-f) for f in fake),
        (hinge, "critic"): mean(max(0, 1 - r) for r in real) + mean(max(0, 1 + f) for f in fake),
        (hinge, "generator"): -mean(fake),
    }
    for (family, role), expected in cases.items():
        got = family.critic_term(REAL, FAKE) if role == "critic" else family.generator_term(FAKE)
        assert got.item() == pytest.approx(expected, rel=1e-12), (family.__name__, role)
    # gan's critic term is binary cross-entropy with real = 1, fake = 0, on logits
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = bce(REAL, torch.ones(3, dtype=torch.float64)) + bce(FAKE, torch.zeros(3).double())
    assert gan.critic_term(REAL, FAKE).item() == pytest.approx(expected.item(), rel=1e-12)


@pytest.mark.parametrize("family", [wasserstein, gan, hinge], ids=lambda f: f.__name__)
def test_term_derivatives_are_autograds(family) -> None:
    # REAL and FAKE straddle hinge's kinks at 1 and −1, so both of its branches are exercised
    real, fake = REAL.clone().requires_grad_(), FAKE.clone().requires_grad_()
    want = torch.autograd.grad(family.critic_term(real, fake), (real, fake))
    got = family.critic_term_grads(REAL, FAKE)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-12, atol=0)
    (want,) = torch.autograd.grad(family.generator_term(fake), fake)
    torch.testing.assert_close(family.generator_term_grad(FAKE), want, rtol=1e-12, atol=0)
    # in bf16 the derivatives are still taken in fp32
    assert family.generator_term_grad(FAKE.bfloat16()).dtype == torch.float32


def test_hinge_derivatives_by_hand() -> None:
    d_real, d_fake = hinge.critic_term_grads(REAL, FAKE)  # REAL 2.0, −0.5, 0.3; FAKE −1.5, .8, 1.2
    assert d_real.tolist() == [0.0, -1 / 3, -1 / 3] and d_fake.tolist() == [0.0, 1 / 3, 1 / 3]


@pytest.mark.parametrize("loss", ["wasserstein", "gan", "hinge"])
def test_critic_loss_adds_the_weighted_penalty_and_logs_the_estimate(loss: str) -> None:
    weight = torch.full((2, 3), 0.5, dtype=torch.float64)  # ‖W‖ = √1.5
    critic = linear_critic(weight)
    real, fake = one_hot_batch(4, 2, 3, 0, torch.float64), simplex_batch(4, 2, 3, 1, torch.float64)
    for constraint, excess in (("gp", math.sqrt(1.5) - 1), ("lp", math.sqrt(1.5) - 1)):
        objective = TrainConfig(loss=loss, constraint=constraint, gp_weight=3.0).objective()
        parts = critic_loss(critic, real, fake, objective=objective)
        term = objective.critic_term(critic(real), critic(fake))
        assert parts.gp.item() == pytest.approx(excess**2, rel=1e-9)
        assert parts.loss.item() == pytest.approx(term.item() + 3.0 * excess**2, rel=1e-9)
        estimate = critic(real).mean() - critic(fake).mean()
        assert parts.wasserstein.item() == pytest.approx(estimate.item(), rel=1e-12)
    for constraint in ("clip", "sn", "none"):
        objective = TrainConfig(loss=loss, constraint=constraint).objective()
        assert objective.penalty is None
        parts = critic_loss(critic, real, fake, objective=objective)
        assert parts.gp is None
        term = objective.critic_term(critic(real), critic(fake))
        assert parts.loss.item() == pytest.approx(term.item(), rel=1e-12)
    assert generator_loss(critic, fake, Objective(loss=loss)).item() == pytest.approx(
        Objective(loss=loss).generator_term(critic(fake)).item()
    )


@pytest.mark.parametrize("scale", [0.2, 0.5, 1.0 / math.sqrt(6), 1.0, 1.7])
def test_one_sided_penalty_of_a_linear_critic(scale: float) -> None:
    """D(x) = ⟨W, x⟩: 0 when ‖W‖ ≤ 1, (‖W‖ − 1)² otherwise; the two-sided one is (‖W‖ − 1)²."""
    weight = torch.full((2, 3), scale, dtype=torch.float64)  # ‖W‖ = √6·scale
    norm = math.sqrt(6) * scale
    real, fake = one_hot_batch(5, 2, 3, 0, torch.float64), simplex_batch(5, 2, 3, 1, torch.float64)
    one_sided = gradient_penalty(linear_critic(weight), real, fake, one_sided=True).item()
    two_sided = gradient_penalty(linear_critic(weight), real, fake).item()
    assert two_sided == pytest.approx((norm - 1) ** 2, abs=1e-9)
    assert one_sided == pytest.approx(max(0.0, norm - 1) ** 2, abs=1e-9)
    if norm <= 1:
        assert one_sided == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("one_sided", [False, True])
def test_penalty_adjoint_is_its_gradient(one_sided: bool) -> None:
    """The adjoint the fused engine pushes back is autograd's dP/dg, rows above and below 1."""
    grad = torch.randn(6, 4, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grad = grad * torch.tensor([0.01, 0.05, 0.1, 0.2, 0.5, 1.0], dtype=torch.float64).view(6, 1, 1)
    norms = grad.flatten(1).norm(dim=1)
    assert (norms < 1).any() and (norms > 1).any()
    value, adjoint = penalty(grad.requires_grad_(True), one_sided=one_sided, with_adjoint=True)
    (expected,) = torch.autograd.grad(value, grad)
    assert torch.allclose(adjoint, expected, rtol=1e-12, atol=1e-15)
    if one_sided:  # rows with a norm below 1 get no push at all
        assert adjoint[norms < 1].abs().max() == 0
