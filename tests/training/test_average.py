"""The generator's average (--g-ema) and the two learning rates (--lr-critic, --lr-generator):
the update against a hand computation, resume, both engines, sampling and evaluation, and the
options' rules."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import assert_train_refused
from typer.testing import CliRunner

from textgan import TrainConfig, sample, train
from textgan.cli.app import app
from textgan.config import resolve_config
from textgan.errors import TextganError
from textgan.evaluation.evaluator import evaluate_checkpoint
from textgan.rundir.checkpoint import load_checkpoint
from textgan.rundir.records import JS, raw
from textgan.rundir.runlog import read_metrics
from textgan.training.state import build_state
from textgan.training.steps import make_engine, train_iteration

TINY = dict(dim=8, n_blocks=1, seq_len=12, batch_size=16, critic_iters=2, device="cpu",
            precision="fp32", eval_every=0)  # fmt: skip
DECAY = 0.9


def trained(corpus: Path, run: Path, iters: int, **options) -> dict:
    options = {**TINY, "g_ema": DECAY, **options}
    config = TrainConfig(iters=iters, checkpoint_every=iters, **options)
    return load_checkpoint(train(config, corpus, run).checkpoint)


def close(a: dict, b: dict) -> None:
    for name, value in b.items():
        torch.testing.assert_close(a[name], value, rtol=1e-6, atol=1e-7)  # fp32 rounding


def test_the_average_by_hand(tiny_corpus: Path, tmp_path: Path) -> None:
    """--iters 1 makes no generator step (the average is the initial generator g0), 2 makes one
    (0.9·g0 + 0.1·g1), 3 makes two (0.9·that + 0.1·g2)."""
    runs = [trained(tiny_corpus, tmp_path / str(i), i) for i in (1, 2, 3)]
    g0, g1, g2 = (run.generator for run in runs)
    assert all(torch.equal(runs[0].generator_ema[k], v) for k, v in g0.items())
    ema1 = {k: DECAY * g0[k] + (1 - DECAY) * g1[k] for k in g0}
    close(runs[1].generator_ema, ema1)
    close(runs[2].generator_ema, {k: DECAY * ema1[k] + (1 - DECAY) * g2[k] for k in g0})
    assert not torch.equal(runs[2].generator_ema["fc.weight"], g2["fc.weight"])


def test_before_g_ema_start_the_average_is_the_generator(tiny_corpus: Path, tmp_path: Path) -> None:
    run = trained(tiny_corpus, tmp_path / "a", 3, g_ema_start=3)  # steps at iterations 1, 2
    assert all(torch.equal(run.generator_ema[k], v) for k, v in run.generator.items())
    run = trained(tiny_corpus, tmp_path / "b", 4, g_ema_start=3)  # the step at 3 averages
    assert not torch.equal(run.generator_ema["fc.weight"], run.generator["fc.weight"])


def test_the_average_resumes_bit_exactly(tiny_corpus: Path, tmp_path: Path) -> None:
    whole = trained(tiny_corpus, tmp_path / "whole", 6)
    config = TrainConfig(iters=3, checkpoint_every=3, g_ema=DECAY, **TINY)
    train(config, tiny_corpus, tmp_path / "split")
    resumed = train(replace(config, iters=6), tiny_corpus, tmp_path / "split", resume=True)
    again = load_checkpoint(resumed.checkpoint)
    for key, value in whole.generator_ema.items():
        assert torch.equal(again.generator_ema[key], value), key


def test_turned_on_at_resume_the_average_starts_as_the_generator(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """A run (an old checkpoint) without an average samples and resumes; given --g-ema on
    resume, the average starts from the generator of then."""
    config = TrainConfig(iters=2, checkpoint_every=2, **TINY)
    first = train(config, tiny_corpus, tmp_path / "run")
    assert load_checkpoint(first.checkpoint).generator_ema is None
    assert sample(first.checkpoint, 4, seed=1) == sample(first.checkpoint, 4, seed=1, raw=True)
    seen = []
    resumed = train(replace(config, iters=3, g_ema=DECAY, g_ema_start=3), tiny_corpus,
                    tmp_path / "run", resume=True, on_start=seen.append)  # fmt: skip
    saved = load_checkpoint(resumed.checkpoint)
    assert all(torch.equal(saved.generator_ema[k], v) for k, v in saved.generator.items())


def test_fused_and_autograd_give_the_same_average(tiny_corpus: Path) -> None:
    averages = {}
    for engine in ("fused", "autograd"):
        config = TrainConfig(iters=10, engine=engine, g_ema=DECAY, **TINY)
        state, _ = build_state(config, tiny_corpus)
        chosen = make_engine(state)
        for _ in range(3):
            train_iteration(state, chosen)
        averages[engine] = state.generator_ema.state_dict()
    for name, value in averages["autograd"].items():
        torch.testing.assert_close(averages["fused"][name], value, rtol=1e-4, atol=1e-6)


def test_evaluation_scores_the_average_and_logs_the_raw_generator(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    config = TrainConfig(iters=4, checkpoint_every=4, g_ema=0.5, eval_samples=32,
                         **{**TINY, "eval_every": 2})  # fmt: skip
    result = train(config, tiny_corpus, tmp_path / "run")
    records = read_metrics(tmp_path / "run")
    assert all(raw(key) in r and key in r for r in records for key in JS)
    checkpoint = load_checkpoint(result.checkpoint)
    averaged = evaluate_checkpoint(checkpoint, n=32, seed=config.seed + 4)
    itself = evaluate_checkpoint(checkpoint, n=32, seed=config.seed + 4, raw=True)
    assert averaged["js4"] == pytest.approx(records[-1]["js4"])
    assert itself["js4"] == pytest.approx(records[-1][raw("js4")])


def test_sample_and_eval_use_the_average_unless_raw(tiny_corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    trained(tiny_corpus, run, 6, g_ema=0.5, g_ema_start=0)
    runner = CliRunner()
    default = runner.invoke(app, ["sample", "--run-dir", str(run), "-n", "8", "--seed", "1"])
    raw_run = runner.invoke(app, ["sample", "--run-dir", str(run), "-n", "8", "--seed", "1",
                                  "--raw"])  # fmt: skip
    assert default.exit_code == raw_run.exit_code == 0
    assert default.stdout.splitlines() == sample(run, 8, seed=1)
    assert raw_run.stdout.splitlines() == sample(run, 8, seed=1, raw=True)
    checkpoint = load_checkpoint(sorted(run.glob("ckpt-*.pt"))[-1])
    generated = [sample(checkpoint, 64, seed=s, raw=r) for s in (1, 2) for r in (False, True)]
    assert generated[0] != generated[1] or generated[2] != generated[3]
    scored = runner.invoke(app, ["eval", "--run-dir", str(run), "-n", "16", "--raw", "--json"])
    assert scored.exit_code == 0, scored.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["--g-ema", "1"], "--g-ema must be 0 (off) or between 0 and 1"),
     (["--g-ema", "-0.1"], "--g-ema must be 0"),
     (["--g-ema-start", "-1"], "--g-ema-start must be an iteration >= 0"),
     (["--lr-critic", "0"], "--lr-critic must be positive"),
     (["--lr-generator", "-1e-4"], "--lr-generator must be positive"),
     (["--lr", "1e-4", "--lr-critic", "3e-4", "--lr-generator", "1e-4"], "not all three")],
)  # fmt: skip
def test_bad_values_are_one_line(tiny_corpus: Path, tmp_path: Path, args, fragment) -> None:
    assert_train_refused(tiny_corpus, tmp_path / "run", args, fragment)


def test_the_learning_rates_rules() -> None:
    config = resolve_config("cpu", "cpu", lr_critic=3e-4)
    assert (config.critic_lr, config.generator_lr) == (3e-4, config.lr)
    both = resolve_config("cpu", "cpu", lr=1e-3, lr_generator=2e-4)
    assert (both.critic_lr, both.generator_lr) == (1e-3, 2e-4)
    with pytest.raises(TextganError, match="not all three"):
        resolve_config("cpu", "cpu", lr=1e-3, lr_generator=2e-4, lr_critic=3e-4)


def test_resumed_learning_rates_take_effect(tiny_corpus: Path, tmp_path: Path) -> None:
    config = TrainConfig(iters=2, checkpoint_every=2, lr=1e-4, **TINY)
    train(config, tiny_corpus, tmp_path / "run")
    changed = replace(config, iters=3, lr_critic=3e-4, lr_generator=5e-5)
    seen = []
    train(changed, tiny_corpus, tmp_path / "run", resume=True, on_start=seen.append)
    assert seen[0].rates_changed == "generator 0.0001 → 5e-05, critic 0.0001 → 0.0003"
    state, _ = build_state(
        changed, tiny_corpus, load_checkpoint(tmp_path / "run" / "ckpt-0000003.pt")
    )
    assert [g["lr"] for g in state.opt_c.param_groups] == [3e-4]
    assert [g["lr"] for g in state.opt_g.param_groups] == [5e-5]


def test_a_config_files_rates_and_the_flags(tiny_corpus: Path, tmp_path: Path) -> None:
    """A file's --lr is overridden by its per-network rates (no error); a flag --lr overrides
    the file's per-network rates."""
    toml = tmp_path / "rates.toml"
    toml.write_text("lr = 1e-3\nlr-critic = 3e-4\nlr-generator = 1e-4\niters = 1\n")
    runner = CliRunner()
    base = ["train", str(tiny_corpus), "--config", str(toml), "--dim", "8", "--n-blocks", "1",
            "--seq-len", "12", "--batch-size", "16", "--eval-every", "0",
            "--device", "cpu"]  # fmt: skip
    for flags, rates in (([], (3e-4, 1e-4)), (["--lr", "2e-4"], (2e-4, 2e-4)),
                         (["--lr", "2e-4", "--lr-critic", "5e-4"], (5e-4, 2e-4))):  # fmt: skip
        run = tmp_path / f"run{len(flags)}"
        result = runner.invoke(app, [*base, *flags, "--run-dir", str(run)])
        assert result.exit_code == 0, result.output
        config = TrainConfig.from_dict(load_checkpoint(run / "ckpt-0000001.pt").config)
        assert (config.critic_lr, config.generator_lr) == rates
