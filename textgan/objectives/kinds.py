"""What a loss and a constraint are: the declared interfaces that the registry holds and every
engine, the configuration and the training step read.

A loss says how the critic's scores are turned into the critic's and the generator's losses
(and, for the fused engine, their derivatives by each score). A constraint says how the critic
is kept Lipschitz: by a penalty on its input gradient (added to its loss), by wrapping it (as
spectral normalisation reparametrises its weights), by acting on it after each step (as
clipping does), or not at all; and whether the fused engine runs it. Adding either is one
entry in one file of this package and one line in registry.py (or a `register_*` call)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

Scores = torch.Tensor  # (B,): one critic score per sample

# (real scores, fake scores) → the critic's loss term, a 0-d tensor
CriticTerm = Callable[[Scores, Scores], torch.Tensor]
# (real scores, fake scores) → the term's derivatives by each real and each fake score
CriticTermGrads = Callable[[Scores, Scores], tuple[Scores, Scores]]
# fake scores → the generator's loss, and its derivative by each fake score
GeneratorTerm = Callable[[Scores], torch.Tensor]
GeneratorTermGrad = Callable[[Scores], Scores]
# the critic's input gradients g (B, L, V), with_adjoint → (the unweighted penalty, dP/dg or None)
PenaltyFn = Callable[[torch.Tensor, bool], tuple[torch.Tensor, torch.Tensor | None]]


@dataclass(frozen=True)
class Loss:
    """A loss, by name. needs_critic: whether its runs train a critic at all (a loss that does
    not brings its own training step); the *_grads entries are what the fused engine's
    hand-derived backward starts from (None: the fused engine cannot run it)."""

    name: str
    summary: str  # a few words for --help
    critic_term: CriticTerm | None
    generator_term: GeneratorTerm | None
    critic_term_grads: CriticTermGrads | None = None
    generator_term_grad: GeneratorTermGrad | None = None
    needs_critic: bool = True


@dataclass(frozen=True)
class Parameter:
    """A constraint's one number, read from the TrainConfig field (and --option) of its name:
    e.g. the penalty weight λ (gp_weight) or the clipping bound c (clip)."""

    field: str
    default: float
    positive: bool  # strictly positive; else non-negative is allowed

    def check(self, value: float) -> str | None:
        """Why value is not allowed (None: it is)."""
        if not isinstance(value, int | float) or not math.isfinite(value):
            return "must be finite and " + ("positive" if self.positive else ">= 0")
        if value < 0 or (self.positive and value == 0):
            return "must be finite and " + ("positive" if self.positive else ">= 0")
        return None


@dataclass(frozen=True)
class Constraint:
    """A way of keeping the critic Lipschitz, by name; each of its actions is optional.

    penalty: the unweighted penalty on the critic's input gradients at x̂, weighted by the
      parameter (λ) and added to the critic's loss; with_adjoint also returns dP/dg.
    wrap: (critic, seed) → the critic to train (e.g. spectrally normalised), once, when built.
    after_step: (critic, parameter) → None, after every critic optimiser step (e.g. clipping).
    parameter: the option that sets its number, or None.
    fused: whether the fused engine runs it (it derives the penalty's backward by hand, and an
      after_step acts on the weights whatever computed their gradients)."""

    name: str
    summary: str
    penalty: PenaltyFn | None = None
    wrap: Callable[[nn.Module, int], nn.Module] | None = None
    after_step: Callable[[nn.Module, float], None] | None = None
    parameter: Parameter | None = None
    fused: bool = True
