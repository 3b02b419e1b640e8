"""Every --loss × --constraint through the command line: it trains, checkpoints, samples and
moves the weights; a resumed run keeps its objective; inapplicable options are errors."""

import json
from pathlib import Path

import pytest
import torch
from conftest import assert_one_line_error, tree_hash
from typer.testing import CliRunner

from textgan.cli.app import app
from textgan.objectives.registry import CONSTRAINTS, LOSSES
from textgan.rundir.checkpoint import load_checkpoint

runner = CliRunner()
TINY = ["--dim", "8", "--n-blocks", "1", "--seq-len", "12", "--batch-size", "8",
        "--critic-iters", "2", "--device", "cpu", "--eval-every", "10", "--eval-samples", "16",
        "--checkpoint-every", "10"]  # fmt: skip


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def weights(path: Path) -> dict[str, torch.Tensor]:
    saved = load_checkpoint(path)
    return {f"{net}.{k}": v for net in ("generator", "critic") for k, v in saved[net].items()}


@pytest.mark.parametrize("constraint", list(CONSTRAINTS))
@pytest.mark.parametrize("loss", [name for name, loss in LOSSES.items() if loss.needs_critic])
def test_every_loss_and_constraint_trains(
    tiny_corpus: Path, tmp_path: Path, loss: str, constraint: str
) -> None:
    run = tmp_path / "run"
    result = invoke("train", tiny_corpus, *TINY, "--iters", "20", "--run-dir", run,
                    "--loss", loss, "--constraint", constraint)  # fmt: skip
    assert result.exit_code == 0, result.output
    fused = constraint != "sn"
    assert ("fused" if fused else "autograd") in result.stdout
    first, last = weights(run / "ckpt-0000010.pt"), weights(run / "ckpt-0000020.pt")
    for net in ("generator", "critic"):
        moved = [k for k in first if k.startswith(net) and not torch.equal(first[k], last[k])]
        assert moved, net
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in records] == [10, 20]
    assert all(("gp" in r) == (constraint in ("gp", "lp")) for r in records)
    assert all(isinstance(r["wasserstein"], float) and "js4" in r for r in records)
    config = json.loads((run / "config.json").read_text())
    assert (config["loss"], config["constraint"]) == (loss, constraint)
    if constraint == "clip":
        assert max(v.abs().max().item() for k, v in last.items() if k.startswith("critic")) <= 0.01
    sampled = invoke("sample", "-n", "3", "--run-dir", run, "--seed", "1")
    assert sampled.exit_code == 0, sampled.output
    assert len(sampled.stdout.splitlines()) == 3


CHANGES = [
    ("--loss", "hinge"), ("--constraint", "lp"), ("--optimizer", "rmsprop"),
    ("--critic-norm", "layer"), ("--gp-weight", "5"),
]  # fmt: skip


def test_resume_refuses_a_changed_objective(tiny_corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert invoke("train", tiny_corpus, *TINY, "--iters", "10", "--run-dir", run).exit_code == 0
    clipped = tmp_path / "clipped"
    started = invoke("train", tiny_corpus, *TINY, "--iters", "10", "--run-dir", clipped,
                     "--constraint", "clip", "--optimizer", "rmsprop")  # fmt: skip
    assert started.exit_code == 0, started.output
    before = tree_hash(tmp_path)
    for flag, value in CHANGES:
        result = invoke("train", tiny_corpus, *TINY, "--iters", "20", "--run-dir", run,
                        "--resume", flag, value)  # fmt: skip
        assert_one_line_error(result, "cannot resume", flag)
    result = invoke("train", tiny_corpus, *TINY, "--iters", "20", "--run-dir", clipped,
                    "--resume", "--clip", "0.02")  # fmt: skip
    assert_one_line_error(result, "cannot resume", "--clip")
    assert tree_hash(tmp_path) == before
    engine = invoke("train", tiny_corpus, *TINY, "--iters", "20", "--run-dir", run, "--resume",
                    "--engine", "autograd")  # fmt: skip
    assert engine.exit_code == 0, engine.output  # the engine may change on resume
    assert "autograd" in engine.stdout


BAD = [
    (["--loss", "wgan"], ["--loss"]),
    (["--constraint", "gradient"], ["--constraint"]),
    (["--optimizer", "sgd"], ["--optimizer"]),
    (["--critic-norm", "batch"], ["--critic-norm"]),
    (["--engine", "jax"], ["--engine"]),
    (["--constraint", "clip", "--clip", "0"], ["--clip"]),
    (["--constraint", "clip", "--clip", "-0.1"], ["--clip"]),
    (["--constraint", "clip", "--clip", "inf"], ["--clip"]),
    (["--clip", "0.01"], ["--clip", "clip"]),
    (["--constraint", "clip", "--gp-weight", "10"], ["--gp-weight"]),
    (["--constraint", "sn", "--gp-weight", "1"], ["--gp-weight"]),
    (["--constraint", "none", "--gp-weight", "1"], ["--gp-weight"]),
    (["--engine", "fused", "--constraint", "sn"], ["--engine fused", "sn"]),
    (["--engine", "fused", "--critic-norm", "layer"], ["--engine fused", "--critic-norm"]),
]


@pytest.mark.parametrize(("args", "fragments"), BAD)
def test_bad_objective_options(
    tiny_corpus: Path, tmp_path: Path, args: list[str], fragments: list[str]
) -> None:
    before = tree_hash(tmp_path)
    result = invoke("train", tiny_corpus, *TINY, "--iters", "2", "--run-dir", tmp_path / "r",
                    *args)  # fmt: skip
    assert_one_line_error(result, *fragments)
    assert tree_hash(tmp_path) == before
