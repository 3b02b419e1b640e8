"""A run's objective — its loss and its penalty, if any — and the critic's and the generator's
losses computed by autograd from it (the reference every engine is held to)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from textgan.errors import TextganError
from textgan.objectives import wasserstein
from textgan.objectives.kinds import (
    Constraint,
    CriticTerm,
    CriticTermGrads,
    GeneratorTerm,
    GeneratorTermGrad,
    Loss,
    PenaltyFn,
)
from textgan.objectives.penalty import ScoreFn, gradient_penalty
from textgan.objectives.registry import constraint_named, loss_named


@dataclass(frozen=True)
class Objective:
    """A run's loss and constraint, by their registry names, and the constraint's number
    (weight: λ for a penalty, c for clipping; None: its default, filled in here).

    The default is the paper's: the Wasserstein loss with the two-sided penalty, λ = 10."""

    loss: str = "wasserstein"
    constraint: str = "gp"
    weight: float | None = None

    def __post_init__(self) -> None:
        loss_named(self.loss)  # an unknown name is an error here, not at the first step
        parameter = self.constraint_entry.parameter
        if parameter is None:
            if self.weight is not None:
                raise TextganError(f"--constraint {self.constraint} takes no parameter")
            return
        if self.weight is None:
            object.__setattr__(self, "weight", parameter.default)  # frozen: filled in once
        elif (why := parameter.check(self.weight)) is not None:
            flag = "--" + parameter.field.replace("_", "-")
            raise TextganError(f"{flag} {why}, got {self.weight}")

    @property
    def loss_entry(self) -> Loss:
        return loss_named(self.loss)

    @property
    def constraint_entry(self) -> Constraint:
        return constraint_named(self.constraint)

    @property
    def penalty(self) -> PenaltyFn | None:
        """(input gradients g (B, L, V), with_adjoint) → (the unweighted penalty, dP/dg);
        None when the constraint is not a penalty."""
        return self.constraint_entry.penalty

    @property
    def critic_term(self) -> CriticTerm:
        """(real scores (B,), fake scores (B,)) → the critic's loss without the penalty."""
        return self.loss_entry.critic_term

    @property
    def generator_term(self) -> GeneratorTerm:
        """fake scores (B,) → the generator's loss."""
        return self.loss_entry.generator_term

    @property
    def critic_term_grads(self) -> CriticTermGrads:
        """(real scores (B,), fake scores (B,)) → critic_term's derivatives by each, (B,) and
        (B,): what a hand-derived backward starts from."""
        return self.loss_entry.critic_term_grads

    @property
    def generator_term_grad(self) -> GeneratorTermGrad:
        """fake scores (B,) → generator_term's derivative by each (B,)."""
        return self.loss_entry.generator_term_grad


@dataclass(frozen=True)
class CriticLoss:
    """The critic's loss and its parts (0-d tensors)."""

    loss: torch.Tensor  # the loss term + weight · penalty
    wasserstein: torch.Tensor  # E[D(real)] − E[D(fake)], the critic's estimate, for every loss
    gp: torch.Tensor | None  # the unweighted penalty; None without one


def critic_loss(
    critic: ScoreFn,
    real: torch.Tensor,
    fake: torch.Tensor,
    gp_weight: float | None = None,
    rng: torch.Generator | None = None,
    alpha: torch.Tensor | None = None,
    *,
    objective: Objective | None = None,
) -> CriticLoss:
    """The critic's loss on real (B, L, V) and fake (B, L, V) rows, one critic call per term as
    in the paper: by default WGAN-GP's D(fake) − D(real) + gp_weight · GP (gp_weight None: the
    paper's λ); with objective, its loss and penalty (objective.weight is then λ). α for the
    penalty is drawn from rng unless given (B,)."""
    objective = objective if objective is not None else Objective(weight=gp_weight)
    real_scores, fake_scores = critic(real), critic(fake.detach())
    loss = objective.critic_term(real_scores, fake_scores)
    gp = None
    if objective.penalty is not None:
        gp = gradient_penalty(critic, real, fake, rng, alpha, penalty_fn=objective.penalty)
        loss = loss + objective.weight * gp
    estimate = wasserstein.wasserstein_estimate(real_scores, fake_scores).detach()
    return CriticLoss(loss, estimate, None if gp is None else gp.detach())


def generator_loss(
    critic: ScoreFn, fake: torch.Tensor, objective: Objective | None = None
) -> torch.Tensor:
    """The generator's loss on fake rows (B, L, V): by default −E[D(fake)]."""
    objective = objective if objective is not None else Objective()
    return objective.generator_term(critic(fake))
