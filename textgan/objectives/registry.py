"""The losses and constraints a run may name, by name: one line per entry. The configuration
validates --loss and --constraint here, the command line lists them from here, and the
engines, the models' builder and the training step ask an entry what to do."""

from __future__ import annotations

from textgan.errors import TextganError
from textgan.objectives.constraints import CLIP, NO_CONSTRAINT, SPECTRAL_NORM
from textgan.objectives.gan import GAN
from textgan.objectives.hinge import HINGE
from textgan.objectives.kinds import Constraint, Loss
from textgan.objectives.likelihood import MLE
from textgan.objectives.penalty import GP, LP
from textgan.objectives.wasserstein import WASSERSTEIN

LOSSES: dict[str, Loss] = {}
CONSTRAINTS: dict[str, Constraint] = {}


def register_loss(loss: Loss) -> Loss:
    """Make loss a --loss choice (and TrainConfig(loss=...) value); a name is taken once."""
    _register(LOSSES, loss, "loss")
    return loss


def register_constraint(constraint: Constraint) -> Constraint:
    """Make constraint a --constraint choice (and TrainConfig(constraint=...) value)."""
    _register(CONSTRAINTS, constraint, "constraint")
    return constraint


def loss_named(name: str) -> Loss:
    return _lookup(LOSSES, name, "loss")


def constraint_named(name: str) -> Constraint:
    return _lookup(CONSTRAINTS, name, "constraint")


def parameter_fields() -> set[str]:
    """The TrainConfig fields that some constraint reads its number from."""
    return {c.parameter.field for c in CONSTRAINTS.values() if c.parameter is not None}


def _register(table: dict, entry: Loss | Constraint, kind: str) -> None:
    if entry.name in table and table[entry.name] is not entry:
        raise TextganError(f"a {kind} named {entry.name!r} is registered already")
    table[entry.name] = entry


def _lookup(table: dict, name: str, kind: str) -> Loss | Constraint:
    if name not in table:
        raise TextganError(f"--{kind} must be one of {', '.join(table)}, got {name!r}")
    return table[name]


for _loss in (WASSERSTEIN, GAN, HINGE, MLE):
    register_loss(_loss)
for _constraint in (GP, LP, CLIP, SPECTRAL_NORM, NO_CONSTRAINT):
    register_constraint(_constraint)
