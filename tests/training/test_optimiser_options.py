"""Adam's betas (--betas) and the learning-rate schedule (--lr-decay): what the optimisers step
with, the schedule against its formula, resume, a language model, config files and the rules."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import assert_one_line_error, assert_train_refused
from typer.testing import CliRunner

from textgan import TrainConfig, train
from textgan.cli.app import app
from textgan.config import resolve_config
from textgan.errors import TextganError
from textgan.rundir.checkpoint import load_checkpoint
from textgan.training.language import run_iteration
from textgan.training.state import build_state, write_checkpoint
from textgan.training.steps import make_engine, train_iteration

TINY = dict(dim=8, n_blocks=1, seq_len=12, batch_size=16, critic_iters=2, device="cpu",
            precision="fp32", eval_every=0, lr=1e-3)  # fmt: skip


def rates(state) -> tuple[float, float]:
    return state.opt_c.param_groups[0]["lr"], state.opt_g.param_groups[0]["lr"]


def test_the_betas_reach_adam_and_the_checkpoint(tiny_corpus: Path, tmp_path: Path) -> None:
    config = TrainConfig(iters=2, checkpoint_every=2, betas=(0.0, 0.9), **TINY)
    state, _ = build_state(config, tiny_corpus)
    for optimizer in (state.opt_c, state.opt_g):
        assert [g["betas"] for g in optimizer.param_groups] == [(0.0, 0.9)]
    saved = load_checkpoint(train(config, tiny_corpus, tmp_path / "run").checkpoint)
    assert TrainConfig.from_dict(saved.config).betas == (0.0, 0.9)
    assert saved.opt_c["param_groups"][0]["betas"] == (0.0, 0.9)
    # β1 = 0 keeps no first moment: the run differs from the paper's (0.5, 0.9) after a step
    paper = load_checkpoint(train(replace(config, betas=(0.5, 0.9)), tiny_corpus,
                                  tmp_path / "paper").checkpoint)  # fmt: skip
    assert not torch.equal(paper.critic["fc.weight"], saved.critic["fc.weight"])


def test_linear_decay_follows_its_formula_each_iteration(tiny_corpus: Path) -> None:
    """Iteration i steps at lr · (1 − i/iters): the first at the configured rates, the last at
    1/iters of them; without --lr-decay the rates stay."""
    for decay, expected in (("linear", [1.0, 0.75, 0.5, 0.25]), ("none", [1.0] * 4)):
        config = TrainConfig(iters=4, lr_decay=decay, lr_critic=3e-4, lr_generator=1e-4, **TINY)
        state, _ = build_state(config, tiny_corpus)
        engine = make_engine(state)
        seen = []
        for _ in range(4):
            train_iteration(state, engine)
            seen += rates(state)
        assert seen == pytest.approx([r * f for f in expected for r in (3e-4, 1e-4)], rel=1e-12)


def test_the_first_iteration_is_undecayed_and_later_ones_step_less(tiny_corpus: Path) -> None:
    runs = {}
    for decay in ("none", "linear"):
        state, _ = build_state(TrainConfig(iters=3, lr_decay=decay, **TINY), tiny_corpus)
        engine = make_engine(state)
        weights = []
        for _ in range(3):
            train_iteration(state, engine)
            weights.append(state.critic.fc.weight.detach().clone())
        runs[decay] = weights
    assert torch.equal(runs["none"][0], runs["linear"][0])
    assert not torch.equal(runs["none"][2], runs["linear"][2])


def test_a_decayed_run_resumes_exactly(tiny_corpus: Path, tmp_path: Path) -> None:
    """Stopped at iteration 3 of 6 and resumed, a decayed run trains what it trains straight
    through: the rates come from the iteration, not from the checkpoint."""
    config = TrainConfig(iters=6, lr_decay="linear", **TINY)
    straight, _ = build_state(config, tiny_corpus)
    engine = make_engine(straight)
    for _ in range(6):
        train_iteration(straight, engine)
    first, _ = build_state(config, tiny_corpus)
    engine = make_engine(first)
    for _ in range(3):
        train_iteration(first, engine)
    saved = load_checkpoint(write_checkpoint(first, tmp_path, tiny_corpus))
    assert saved.opt_c["param_groups"][0]["initial_lr"] == 1e-3
    resumed, _ = build_state(config, tiny_corpus, saved)
    assert rates(resumed) == pytest.approx((5e-4, 5e-4))  # 1e-3 · (1 − 3/6), before its step
    engine = make_engine(resumed)
    for _ in range(3):
        train_iteration(resumed, engine)
    for a, b in zip(straight.critic.parameters(), resumed.critic.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(straight.generator.parameters(), resumed.generator.parameters(), strict=True):
        assert torch.equal(a, b)


def test_resumed_with_more_iterations_the_schedule_stretches(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    config = TrainConfig(iters=3, checkpoint_every=3, lr_decay="linear", **TINY)
    train(config, tiny_corpus, tmp_path / "run")
    seen = []
    resumed = train(replace(config, iters=6), tiny_corpus, tmp_path / "run", resume=True,
                    on_start=seen.append)  # fmt: skip
    assert seen[0].rates_changed is None  # the configured rates did not change
    last = load_checkpoint(resumed.checkpoint).opt_c["param_groups"][0]
    assert (last["initial_lr"], last["lr"]) == (1e-3, pytest.approx(1e-3 * (1 - 5 / 6)))


def test_a_run_resumes_with_its_own_betas_and_not_with_others(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    tiny = ["train", str(tiny_corpus), "--dim", "8", "--n-blocks", "1", "--seq-len", "12",
            "--eval-every", "0", "--run-dir", str(run)]  # fmt: skip
    started = CliRunner().invoke(app, [*tiny, "--betas", "0", "0.9", "--iters", "1"])
    assert started.exit_code == 0, started.output
    again = CliRunner().invoke(app, [*tiny, "--betas", "0", "0.9", "--iters", "2", "--resume"])
    assert again.exit_code == 0, again.output
    other = CliRunner().invoke(app, [*tiny, "--betas", "0.5", "0.9", "--iters", "3", "--resume"])
    assert_one_line_error(other, "cannot resume with a different --betas")
    assert sorted(p.name for p in run.glob("ckpt-*.pt")) == ["ckpt-0000001.pt", "ckpt-0000002.pt"]


def test_a_language_model_decays_too(tiny_corpus: Path) -> None:
    config = TrainConfig(iters=4, loss="mle", lr_decay="linear",
                         **{k: v for k, v in TINY.items() if k != "critic_iters"})  # fmt: skip
    state, _ = build_state(config, tiny_corpus)
    iterate, _, _ = run_iteration(state)
    seen = []
    for _ in range(4):
        iterate(state)
        seen.append(state.opt_g.param_groups[0]["lr"])
    assert seen == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])


def test_betas_and_decay_from_a_config_file(tiny_corpus: Path, tmp_path: Path) -> None:
    toml = tmp_path / "options.toml"
    toml.write_text('betas = [0, 0.9]\nlr-decay = "linear"\niters = 1\n')
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(tiny_corpus), "--config", str(toml),
                                      "--dim", "8", "--n-blocks", "1", "--seq-len", "12",
                                      "--eval-every", "0", "--run-dir", str(run)])  # fmt: skip
    assert result.exit_code == 0, result.output
    config = TrainConfig.from_dict(load_checkpoint(run / "ckpt-0000001.pt").config)
    assert (config.betas, config.lr_decay) == ((0.0, 0.9), "linear")
    toml.write_text("betas = [0.9]\n")
    wrong = CliRunner().invoke(app, ["train", str(tiny_corpus), "--config", str(toml),
                                     "--run-dir", str(tmp_path / "wrong")])  # fmt: skip
    assert_one_line_error(wrong, "betas must be a list of 2 numbers")
    assert not (tmp_path / "wrong").exists()


def test_the_betas_rules() -> None:
    assert resolve_config("cpu", "cpu").betas == (0.5, 0.9)
    assert resolve_config("cpu", "cpu", loss="mle").betas == (0.9, 0.999)  # the LM preset's
    assert resolve_config("cpu", "cpu", loss="mle", betas=(0.0, 0.9)).betas == (0.0, 0.9)
    with pytest.raises(TextganError, match="only to --optimizer adam"):
        resolve_config("cpu", "cpu", optimizer="rmsprop", betas=(0.0, 0.9))
    for bad in ((0.5,), (0.5, 0.9, 0.99), "0.5", (0.5, float("nan"))):
        with pytest.raises(TextganError, match="--betas"):
            TrainConfig(betas=bad)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["--betas", "0", "1"], "--betas must each be in [0, 1)"),
     (["--betas", "-0.1", "0.9"], "--betas must each be in [0, 1)"),
     (["--betas", "0", "0.9", "--optimizer", "rmsprop"], "only to --optimizer adam"),
     (["--lr-decay", "cosine"], "--lr-decay must be one of none, linear")],
)  # fmt: skip
def test_bad_values_are_one_line(tiny_corpus: Path, tmp_path: Path, args, fragment) -> None:
    assert_train_refused(tiny_corpus, tmp_path / "run", args, fragment)
