"""A loss and a constraint registered from here alone: the configuration validates them and
fills their defaults, the engine choice reads what they say, and each trains through the
Python API on the autograd engine."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import textgan
from textgan.engines.choice import choose_engine
from textgan.errors import TextganError
from textgan.objectives import registry
from textgan.objectives.kinds import Constraint, Loss, Parameter
from textgan.objectives.wasserstein import wide
from textgan.rundir.checkpoint import load_checkpoint
from textgan.training.state import build_state


def least_squares_critic(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """½E[(D(real) − 1)²] + ½E[D(fake)²] (Mao et al. 2017)."""
    return 0.5 * ((wide(real) - 1).square().mean() + wide(fake).square().mean())


def least_squares_generator(fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * (wide(fake) - 1).square().mean()


def zero_centred_penalty(grad: torch.Tensor, with_adjoint: bool):
    """E[‖g‖²] (Mescheder et al. 2018's R1 form, taken at x̂)."""
    return grad.flatten(1).square().sum(dim=1).mean(), None


LEAST_SQUARES = Loss("least-squares", "LSGAN", least_squares_critic, least_squares_generator)
DECAY = Parameter(field="clip", default=0.5, positive=True)


@torch.no_grad()
def shrink(critic: torch.nn.Module, factor: float) -> None:
    for param in critic.parameters():
        param.mul_(factor)


ZERO_GP = Constraint("zero-gp", "zero-centred penalty", penalty=zero_centred_penalty,
                     parameter=Parameter(field="gp_weight", default=2.0, positive=False),
                     fused=False)  # fmt: skip
SHRINK = Constraint("shrink", "weights shrunk after each step", after_step=shrink,
                    parameter=DECAY)  # fmt: skip


@pytest.fixture
def registered() -> Iterator[None]:
    for entry in (LEAST_SQUARES,):
        registry.register_loss(entry)
    for entry in (ZERO_GP, SHRINK):
        registry.register_constraint(entry)
    yield
    registry.LOSSES.pop(LEAST_SQUARES.name)
    for entry in (ZERO_GP, SHRINK):
        registry.CONSTRAINTS.pop(entry.name)


TINY = dict(dim=8, n_blocks=1, seq_len=12, batch_size=16, critic_iters=2, iters=4,
            eval_every=0, checkpoint_every=4, device="cpu", precision="fp32")  # fmt: skip


def test_new_names_validate_and_fill_their_defaults(registered: None) -> None:
    assert textgan.TrainConfig(constraint="zero-gp").gp_weight == 2.0
    assert textgan.TrainConfig(constraint="shrink").clip == 0.5
    with pytest.raises(TextganError, match="--clip applies only to --constraint clip or shrink"):
        textgan.TrainConfig(constraint="gp", clip=0.1)
    with pytest.raises(TextganError, match="--clip must be finite and positive"):
        textgan.TrainConfig(constraint="shrink", clip=0.0)
    config = textgan.TrainConfig(loss="least-squares", engine="fused")
    with pytest.raises(TextganError, match="no derivatives of --loss least-squares"):
        choose_engine(config)
    assert choose_engine(textgan.TrainConfig(constraint="zero-gp"))[0] == "autograd"
    assert choose_engine(textgan.TrainConfig(constraint="shrink"))[0] == "fused"


def test_unregistered_names_are_refused() -> None:
    with pytest.raises(TextganError, match="--loss must be one of wasserstein, gan, hinge"):
        textgan.TrainConfig(loss="least-squares")
    with pytest.raises(TextganError, match="a loss named 'gan' is registered already"):
        registry.register_loss(Loss("gan", "other", least_squares_critic, None))


@pytest.mark.parametrize(
    ("loss", "constraint"), [("least-squares", "none"), ("wasserstein", "zero-gp"),
                             ("least-squares", "shrink")],
)  # fmt: skip
def test_a_registered_loss_and_constraint_train_on_autograd(
    registered: None, tiny_corpus: Path, tmp_path: Path, loss: str, constraint: str
) -> None:
    config = textgan.TrainConfig(loss=loss, constraint=constraint, engine="autograd", **TINY)
    seen = []
    result = textgan.train(config, tiny_corpus, tmp_path / "run", on_start=seen.append,
                           on_step=seen.append)  # fmt: skip
    assert seen[0].engine == "autograd" and result.iteration == 4
    assert all(step.finite for step in seen[1:])
    assert (seen[-1].gp is not None) == (constraint == "zero-gp")  # a penalty is logged
    saved = load_checkpoint(result.checkpoint)
    assert saved["config"]["loss"] == loss and saved["config"]["constraint"] == constraint
    fresh, _ = build_state(config, tiny_corpus)  # the weights the run started from
    for role in ("generator", "critic"):
        start = getattr(fresh, role).state_dict()
        moved = [name for name, value in saved[role].items() if not torch.equal(start[name], value)]
        assert len(moved) >= len(start) - 2, role  # (the biases a Wasserstein loss cancels)
    if constraint == "shrink":  # after every critic step: the weights end small
        assert max(v.abs().max().item() for v in saved["critic"].values()) < 0.05
