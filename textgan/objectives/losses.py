"""A run's objective — its loss and its penalty, if any — and the critic's and the generator's
losses computed by autograd from it (the reference every engine is held to)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import torch

from textgan.config import PENALTY_CONSTRAINTS, TrainConfig
from textgan.objectives import gan, hinge, wasserstein
from textgan.objectives.penalty import ScoreFn, gradient_penalty

LOSSES: dict[str, ModuleType] = {"wasserstein": wasserstein, "gan": gan, "hinge": hinge}
PENALTIES = {"gp": False, "lp": True}  # constraint → one_sided


@dataclass(frozen=True)
class Objective:
    """loss: a LOSSES key; penalty: "gp" (two-sided), "lp" (one-sided) or None; weight: λ."""

    loss: str = "wasserstein"
    penalty: str | None = "gp"
    weight: float = 10.0

    @classmethod
    def of(cls, config: TrainConfig) -> Objective:
        """A run's objective: its --loss, and --constraint gp or lp as the penalty."""
        if config.constraint in PENALTY_CONSTRAINTS:
            return cls(config.loss, config.constraint, float(config.gp_weight))
        return cls(config.loss, None, 0.0)

    @property
    def critic_term(self) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """(real scores (B,), fake scores (B,)) → the critic's loss without the penalty."""
        return LOSSES[self.loss].critic_term

    @property
    def generator_term(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """fake scores (B,) → the generator's loss."""
        return LOSSES[self.loss].generator_term

    @property
    def critic_term_grads(
        self,
    ) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """(real scores (B,), fake scores (B,)) → critic_term's derivatives by each, (B,) and
        (B,): what a hand-derived backward starts from."""
        return LOSSES[self.loss].critic_term_grads

    @property
    def generator_term_grad(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """fake scores (B,) → generator_term's derivative by each (B,)."""
        return LOSSES[self.loss].generator_term_grad

    @property
    def one_sided(self) -> bool:
        return PENALTIES[self.penalty] if self.penalty is not None else False


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
    gp_weight: float = 10.0,
    rng: torch.Generator | None = None,
    alpha: torch.Tensor | None = None,
    *,
    objective: Objective | None = None,
) -> CriticLoss:
    """The critic's loss on real (B, L, V) and fake (B, L, V) rows, one critic call per term as
    in the paper: by default WGAN-GP's D(fake) − D(real) + gp_weight · GP; with objective, its
    loss and penalty (objective.weight is then λ). α for the penalty is drawn from rng unless
    given (B,)."""
    objective = objective if objective is not None else Objective(weight=gp_weight)
    real_scores, fake_scores = critic(real), critic(fake.detach())
    loss = objective.critic_term(real_scores, fake_scores)
    gp = None
    if objective.penalty is not None:
        gp = gradient_penalty(critic, real, fake, rng, alpha, one_sided=objective.one_sided)
        loss = loss + objective.weight * gp
    estimate = wasserstein.wasserstein_estimate(real_scores, fake_scores).detach()
    return CriticLoss(loss, estimate, None if gp is None else gp.detach())


def generator_loss(
    critic: ScoreFn, fake: torch.Tensor, objective: Objective | None = None
) -> torch.Tensor:
    """The generator's loss on fake rows (B, L, V): by default −E[D(fake)]."""
    objective = objective if objective is not None else Objective()
    return objective.generator_term(critic(fake))
