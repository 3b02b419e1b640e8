"""The fused engine held to the autograd engine, for every configuration fused runs: the same
loss parts and the same gradient for every named parameter (float64 to 1e-9, fp32 to 1e-4), and
the same weights after a few iterations of training."""

from pathlib import Path

import pytest
import torch

from textgan.config import ModelConfig, TrainConfig
from textgan.engines.autograd import AutogradEngine
from textgan.engines.choice import choose_engine
from textgan.engines.fused.engine import FusedEngine
from textgan.errors import TextganError
from textgan.models.resnet import build_models
from textgan.objectives.losses import Objective
from textgan.training.state import build_state
from textgan.training.steps import make_engine, train_iteration

F64 = torch.float64
CONFIG = ModelConfig(vocab_size=9, seq_len=8, dim=6, n_blocks=2)
FUSED_OBJECTIVES = [
    Objective(loss, constraint, None if constraint == "none" else 10.0)
    for loss in ("wasserstein", "gan", "hinge")
    for constraint in ("gp", "lp", "none")
]


def models() -> tuple[torch.nn.Module, torch.nn.Module]:
    """float64 models with every parameter non-zero, and some critic rows far from norm 1."""
    generator, critic = build_models(CONFIG, 0)
    rng = torch.Generator().manual_seed(1)
    for p in [*generator.parameters(), *critic.parameters()]:
        p.data.add_(0.1 * torch.randn(p.shape, generator=rng))
    return generator.to(F64), critic.to(F64)


def assert_same(got: dict, want: dict, rtol: float, atol: float) -> None:
    assert list(got) == list(want)
    for name, value in want.items():
        assert got[name].shape == value.shape, name
        torch.testing.assert_close(got[name].to(value.dtype), value, rtol=rtol, atol=atol)


@pytest.mark.parametrize("objective", FUSED_OBJECTIVES, ids=lambda o: f"{o.loss}-{o.penalty}")
def test_float64_steps_agree(objective: Objective, conv_impl: str) -> None:
    generator, critic = models()
    fused = FusedEngine(generator, critic, objective, F64, conv_impl)
    reference = AutogradEngine(generator, critic, objective, F64)
    rng = torch.Generator().manual_seed(2)
    real_ids = torch.randint(0, CONFIG.vocab_size, (5, CONFIG.seq_len), generator=rng)
    noise = torch.randn(5, CONFIG.noise_dim, generator=rng, dtype=F64)
    fake, alpha = reference.generate(noise), torch.rand(5, generator=rng, dtype=F64)
    torch.testing.assert_close(fused.generate(noise), fake, rtol=1e-9, atol=1e-12)
    parts, grads = fused.critic_grads(real_ids, fake, alpha)
    want_parts, want = reference.critic_grads(real_ids, fake, alpha)
    for field in ("loss", "wasserstein", "gp"):
        a, b = getattr(parts, field), getattr(want_parts, field)
        assert (a is None) == (b is None) == (objective.penalty is None and field == "gp"), field
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert want_parts.gp is None or want_parts.gp > 0.01  # the penalty's gradient is exercised
    assert_same(grads, want, 1e-9, 1e-12)
    loss, grads = fused.generator_grads(noise)
    want_loss, want = reference.generator_grads(noise)
    torch.testing.assert_close(loss, want_loss, rtol=1e-9, atol=1e-12)
    assert_same(grads, want, 1e-9, 1e-12)


TINY_LR = 1e-4
TINY = dict(dim=16, n_blocks=2, seq_len=12, batch_size=8, critic_iters=2, eval_every=0,
            device="cpu", precision="fp32", iters=100, lr=TINY_LR)  # fmt: skip
CONSTRAINTS = [("wasserstein", "gp", "adam"), ("wasserstein", "lp", "adam"),
               ("wasserstein", "clip", "rmsprop"), ("wasserstein", "none", "adam"),
               ("gan", "none", "adam"), ("gan", "gp", "adam"),
               ("hinge", "none", "adam")]  # fmt: skip


@pytest.mark.parametrize(("loss", "constraint", "optimizer"), CONSTRAINTS)
def test_fp32_steps_agree(tiny_corpus: Path, loss: str, constraint: str, optimizer: str) -> None:
    config = TrainConfig(loss=loss, constraint=constraint, optimizer=optimizer, **TINY)
    state, _ = build_state(config, tiny_corpus)
    fused = make_engine(state)
    assert isinstance(fused, FusedEngine)
    reference = AutogradEngine(state.generator, state.critic, fused.objective, torch.float32)
    real_ids, alpha = state.real_batch(), state.alpha()
    fake = fused.generate(state.noise())
    parts, grads = fused.critic_grads(real_ids, fake, alpha)
    want_parts, want = reference.critic_grads(real_ids, fake, alpha)
    torch.testing.assert_close(parts.loss, want_parts.loss, rtol=1e-4, atol=1e-5)
    for name, value in want.items():
        scale = value.abs().max().clamp_min(1e-6)  # relative to the tensor's own scale
        assert (grads[name] - value).abs().max() <= 1e-4 * scale, name
    noise = state.noise()
    loss, grads = fused.generator_grads(noise)
    want_loss, want = reference.generator_grads(noise)
    torch.testing.assert_close(loss, want_loss, rtol=1e-4, atol=1e-5)
    for name, value in want.items():
        assert (grads[name] - value).abs().max() <= 1e-4 * value.abs().max(), name


@pytest.mark.parametrize(("loss", "constraint", "optimizer"), CONSTRAINTS)
def test_one_seed_trains_the_same_run_on_either_engine(
    tiny_corpus: Path, loss: str, constraint: str, optimizer: str
) -> None:
    weights = {}
    for engine in ("fused", "autograd"):
        config = TrainConfig(loss=loss, constraint=constraint, optimizer=optimizer, engine=engine,
                             **TINY)  # fmt: skip
        state, _ = build_state(config, tiny_corpus)
        chosen = make_engine(state)
        assert chosen.name == engine
        for _ in range(3):
            train_iteration(state, chosen)
        weights[engine] = {**state.generator.state_dict(), **state.critic.state_dict()}
    for name, value in weights["autograd"].items():
        torch.testing.assert_close(weights["fused"][name], value, rtol=1e-4, atol=1e-6)


def test_auto_takes_fused_where_it_can_and_says_why() -> None:
    generator, critic = build_models(CONFIG, 0)
    assert choose_engine(TrainConfig(), generator, critic)[0] == "fused"
    for options in (dict(constraint="clip"), dict(loss="gan"), dict(loss="hinge", constraint="lp")):
        assert choose_engine(TrainConfig(**options), generator, critic)[0] == "fused"
    for options, fragment in ((dict(constraint="sn"), "sn"),
                              (dict(critic_norm="layer"), "--critic-norm")):  # fmt: skip
        name, why = choose_engine(TrainConfig(**options), generator, critic)
        assert name == "autograd" and fragment in why
        with pytest.raises(TextganError, match=fragment):
            choose_engine(TrainConfig(engine="fused", **options), generator, critic)
    custom = torch.nn.Sequential(critic)
    assert "custom" in choose_engine(TrainConfig(), generator, custom)[1]
    assert choose_engine(TrainConfig(engine="autograd"), generator, critic)[0] == "autograd"


def test_the_fused_engine_checks_its_gradient_names_when_built() -> None:
    """Each name it hands back is a parameter's, and every parameter gets one; a model whose
    parameters differ (here: one more) is refused when the engine is built."""
    from textgan.engines.fused.engine import FusedEngine, gradient_names

    generator, critic = models()
    for net in (generator, critic):
        assert gradient_names(net) == {name for name, _ in net.named_parameters()}
    critic.extra = torch.nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match=r"critic gradients \[\] do not match its parameters"):
        FusedEngine(generator, critic, Objective(), F64)
