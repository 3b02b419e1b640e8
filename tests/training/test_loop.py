import functools
import itertools
from pathlib import Path

import pytest
import torch

from textgan import TrainConfig, train
from textgan.engines.fused.engine import FusedEngine
from textgan.errors import TextganError
from textgan.rundir.checkpoint import list_checkpoints, load_checkpoint
from textgan.rundir.runlog import read_metrics
from textgan.training import loop
from textgan.training.loop import STOPPED_AT_ITERS, STOPPED_BY_MINUTES

TINY = dict(dim=8, n_blocks=1, seq_len=12, batch_size=16, critic_iters=2, device="cpu")


def tiny_config(**overrides) -> TrainConfig:
    return TrainConfig(**{**TINY, "iters": 4, "checkpoint_every": 2, **overrides})


def test_train_runs_steps_and_writes_checkpoints(tiny_corpus: Path, tmp_path: Path) -> None:
    seen = []
    result = train(tiny_config(), tiny_corpus, tmp_path / "run", on_step=seen.append)
    assert [s.iteration for s in seen] == [1, 2, 3, 4]
    assert seen[0].generator_loss != seen[0].generator_loss  # nan: no generator step at 0
    assert all(s.generator_loss == s.generator_loss for s in seen[1:])
    assert result.iteration == 4
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == [
        "ckpt-0000002.pt",
        "ckpt-0000004.pt",
    ]
    assert (tmp_path / "run" / "config.json").is_file()
    saved = load_checkpoint(result.checkpoint)
    assert saved["iteration"] == 4 and saved["config"]["dim"] == 8


def test_training_moves_both_networks(tiny_corpus: Path, tmp_path: Path) -> None:
    first = train(tiny_config(iters=1, checkpoint_every=1), tiny_corpus, tmp_path / "a")
    before = load_checkpoint(first.checkpoint)
    after = load_checkpoint(train(tiny_config(iters=3), tiny_corpus, tmp_path / "b").checkpoint)
    for net in ("generator", "critic"):
        assert any(not torch.equal(before[net][k], after[net][k]) for k in before[net])


def test_resume_continues_to_the_total_and_matches_one_run(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    whole = train(tiny_config(iters=4), tiny_corpus, tmp_path / "whole")
    train(tiny_config(iters=2), tiny_corpus, tmp_path / "split")
    seen = []
    resumed = train(tiny_config(iters=4), tiny_corpus, tmp_path / "split", resume=True,
                    on_step=seen.append)  # fmt: skip
    assert [s.iteration for s in seen] == [3, 4]
    a, b = load_checkpoint(whole.checkpoint), load_checkpoint(resumed.checkpoint)
    for net in ("generator", "critic"):
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), key


@pytest.mark.parametrize(("first", "then"), [("im2col", "native"), ("native", "winograd")])
def test_resume_may_switch_the_conv_implementation(
    tiny_corpus: Path, tmp_path: Path, first: str, then: str
) -> None:
    """--conv changes how the sums are computed, not what: a run resumed with another
    implementation ends where the uninterrupted one does, up to rounding."""
    config = dict(precision="fp32", conv=first)
    whole = train(tiny_config(iters=4, **config), tiny_corpus, tmp_path / "whole")
    train(tiny_config(iters=2, **config), tiny_corpus, tmp_path / "split")
    switched = tiny_config(iters=4, precision="fp32", conv=then)
    resumed = train(switched, tiny_corpus, tmp_path / "split", resume=True)
    a, b = load_checkpoint(whole.checkpoint), load_checkpoint(resumed.checkpoint)
    assert b["config"]["conv"] == then
    for net in ("generator", "critic"):
        for key in a[net]:
            assert torch.allclose(a[net][key], b[net][key], rtol=1e-4, atol=1e-6), key


def test_resume_refuses_a_changed_model(tiny_corpus: Path, tmp_path: Path) -> None:
    train(tiny_config(iters=2), tiny_corpus, tmp_path / "run")
    with pytest.raises(TextganError, match="--dim"):
        train(tiny_config(iters=4, dim=16), tiny_corpus, tmp_path / "run", resume=True)


def test_a_new_run_never_overwrites_an_old_one(tiny_corpus: Path, tmp_path: Path) -> None:
    train(tiny_config(iters=2), tiny_corpus, tmp_path / "run")
    before = (tmp_path / "run" / "ckpt-0000002.pt").read_bytes()
    with pytest.raises(TextganError, match="--resume"):
        train(tiny_config(iters=2), tiny_corpus, tmp_path / "run")
    assert (tmp_path / "run" / "ckpt-0000002.pt").read_bytes() == before


def test_non_finite_loss_stops_with_the_iteration(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_grads = FusedEngine.critic_grads
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        parts, grads = real_grads(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] > 4:  # iteration 3 (2 critic steps per iteration)
            return type(parts)(parts.loss * float("nan"), parts.wasserstein, parts.gp), grads
        return parts, grads

    monkeypatch.setattr(FusedEngine, "critic_grads", poisoned)
    with pytest.raises(TextganError, match="iteration 3"):
        train(tiny_config(), tiny_corpus, tmp_path / "run")
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["ckpt-0000002.pt"]


def test_bad_corpora_are_refused(tmp_path: Path) -> None:
    cases = {
        "missing.txt": None,
        "empty.txt": b"",
        "blank.txt": b"\n  \n\t\n",
        "latin1.txt": b"fine line\nbad \xe9 line\n",
        "binary.bin": b"\x00\x01\x02\x00" * 50,
    }
    messages = {}
    for name, data in cases.items():
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        with pytest.raises(TextganError) as err:
            train(tiny_config(), path, tmp_path / f"run-{name}")
        messages[name] = str(err.value)
    assert "does not exist" in messages["missing.txt"]
    assert "no text lines" in messages["empty.txt"] and "no text lines" in messages["blank.txt"]
    assert "line 2" in messages["latin1.txt"]
    assert "binary" in messages["binary.bin"]
    with pytest.raises(TextganError, match="directory"):
        train(tiny_config(), tmp_path, tmp_path / "run-dir")


def assert_bit_identical(a: object, b: object, where: str = "") -> None:
    """Nested dicts, lists and tensors of two checkpoints hold exactly the same values."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_bit_identical(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_bit_identical(x, y, f"{where}/{i}")
    else:
        assert a == b, where


@pytest.mark.parametrize(
    "options", [{}, {"constraint": "sn", "loss": "hinge"}, {"critic_norm": "layer"}],
    ids=["default", "sn", "layer"],
)  # fmt: skip
def test_evaluation_leaves_the_run_bit_identical(
    tiny_corpus: Path, tmp_path: Path, options: dict
) -> None:
    """Weights and buffers (spectral norm's u and v included), optimiser state and every random
    stream are the same after three iterations with an evaluation after each as without any."""
    evaluated = tiny_config(iters=3, eval_every=1, eval_samples=16, **options)
    seen = []
    a = train(evaluated, tiny_corpus, tmp_path / "evaluated", on_eval=seen.append)
    b = train(tiny_config(iters=3, eval_every=0, **options), tiny_corpus, tmp_path / "plain")
    assert [r["iteration"] for r in seen] == [1, 2, 3]
    assert all(r["critic_gap"] == r["critic_train"] - r["critic_heldout"] for r in seen)
    saved_a, saved_b = load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint)
    if options.get("constraint") == "sn":
        assert any(key.endswith("._u") for key in saved_a["critic"])
    for part in ("generator", "critic", "opt_g", "opt_c", "rng"):
        assert_bit_identical(saved_a[part], saved_b[part], part)


def test_minutes_stop_checkpoint_and_resume_with_a_larger_budget(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The training clock reads 10 s later at every reading (one per iteration, one at start):
    --minutes 0.5 ends iteration 3 at 30 s; resumed with --minutes 1, the run goes on from 30 s
    and stops at iteration 6; resumed as it is, past its budget, it stops after one iteration."""
    ticks = itertools.count()
    train = functools.partial(loop.train, clock=lambda: 10.0 * next(ticks))
    run = tmp_path / "run"
    config = dict(iters=100, checkpoint_every=50, eval_every=50, eval_samples=16)
    first = train(tiny_config(minutes=0.5, **config), tiny_corpus, run)
    assert (first.iteration, first.stopped, first.seconds) == (3, STOPPED_BY_MINUTES, 30.0)
    assert first.checkpoint == run / "ckpt-0000003.pt" and first.checkpoint.is_file()
    assert load_checkpoint(first.checkpoint)["seconds"] == 30.0
    assert [(r["iteration"], r["seconds"]) for r in read_metrics(run)] == [(3, 30.0)]
    second = train(tiny_config(minutes=1.0, **config), tiny_corpus, run, resume=True)
    assert (second.iteration, second.stopped, second.seconds) == (6, STOPPED_BY_MINUTES, 60.0)
    assert load_checkpoint(second.checkpoint)["config"]["minutes"] == 1.0
    assert [r["iteration"] for r in read_metrics(run)] == [3, 6]
    third = train(tiny_config(minutes=1.0, **config), tiny_corpus, run, resume=True)
    assert (third.iteration, third.stopped) == (7, STOPPED_BY_MINUTES)
    done = train(tiny_config(minutes=10.0, **{**config, "iters": 9}), tiny_corpus, run,
                 resume=True)  # fmt: skip
    assert (done.iteration, done.stopped, done.seconds) == (9, STOPPED_AT_ITERS, 90.0)
    assert [p.name for p in list_checkpoints(run)] == [f"ckpt-000000{i}.pt" for i in (6, 7, 9)]


def test_the_loop_runs_a_run_that_trains_no_critic(tiny_corpus: Path, tmp_path: Path) -> None:
    """The loop assumes no critic: an iteration of the generator alone (here, pulling its
    softmax towards the data's one-hot rows) logs its own loss, is evaluated without the
    critic's estimates and checkpoints without a critic."""
    from textgan.data.sampler import one_hot
    from textgan.evaluation.evaluator import Evaluator
    from textgan.training.state import build_state

    config = tiny_config(eval_every=2, eval_samples=16)
    state, encoded = build_state(config, tiny_corpus)
    state.critic, state.opt_c = None, None

    def iterate(state) -> dict[str, torch.Tensor]:
        real = one_hot(state.real_batch(), len(state.vocab), torch.float32)  # (B, L, V)
        loss = -(real * state.generator(state.noise()).clamp_min(1e-9).log()).sum(-1).mean()
        state.opt_g.zero_grad()
        loss.backward()
        state.opt_g.step()
        state.iteration += 1
        return {"nll": loss}

    run = loop._Run(
        state, iterate, tmp_path / "run", tiny_corpus, None, clock=iter(range(99)).__next__
    )
    (tmp_path / "run").mkdir()
    steps, evaluations = [], []
    last, stopped = loop._loop(run, Evaluator(encoded, 16), steps.append, evaluations.append)
    assert (last.iteration, stopped) == (4, STOPPED_AT_ITERS)
    assert [list(s.losses) for s in steps] == [["nll"]] * 4 and steps[-1].losses["nll"] > 0
    assert [r["iteration"] for r in evaluations] == [2, 4]
    assert "nll" in evaluations[0] and "js4" in evaluations[0]
    assert not any(key.startswith("critic") for key in evaluations[0])
    saved = load_checkpoint(tmp_path / "run" / "ckpt-0000004.pt")
    assert saved.critic is None and saved.opt_c is None and list(saved.models) == ["generator"]
