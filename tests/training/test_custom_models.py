"""Your own models: the README's GRU generator trains on the autograd engine, checkpoints by
class name, samples and resumes from Python; the command line refuses such a run in one line."""

import math
import re
from pathlib import Path

import pytest
import torch
from conftest import assert_one_line_error
from typer.testing import CliRunner

import textgan
from textgan.cli.app import app
from textgan.errors import TextganError
from textgan.rundir.checkpoint import load_checkpoint
from textgan.rundir.runlog import read_metrics

README = Path(__file__).parents[2] / "README.md"
TINY = dict(dim=8, n_blocks=1, seq_len=12, batch_size=8, critic_iters=2, eval_every=2,
            eval_samples=16, checkpoint_every=2, device="cpu", precision="fp32")  # fmt: skip


@pytest.fixture(scope="module")
def gru_class() -> type:
    """The GRUGenerator class exactly as the README's "Your own models" section defines it."""
    section = README.read_text(encoding="utf-8").split("## Your own models", 1)[1]
    code = next(b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "class " in b)
    namespace = {"__name__": "readme_example"}
    exec(compile(code, str(README), "exec"), namespace)
    return namespace["GRUGenerator"]


def small_gru(gru_class: type):
    return lambda model: gru_class(model, hidden=16)


def test_a_custom_generator_trains_samples_and_resumes(
    tiny_corpus: Path, tmp_path: Path, gru_class: type
) -> None:
    run, make = tmp_path / "gru", small_gru(gru_class)
    started = []
    result = textgan.train(textgan.TrainConfig(iters=4, **TINY), tiny_corpus, run,
                           generator=make, on_start=started.append)  # fmt: skip
    assert started[0].engine == "autograd" and "custom" in started[0].engine_reason
    saved = load_checkpoint(result.checkpoint)
    assert saved["models"]["generator"] == "readme_example.GRUGenerator"
    assert saved["models"]["critic"] == "textgan.models.resnet.Critic"
    assert any(k.startswith("cell.") for k in saved["generator"])
    for record in read_metrics(run):  # the critic is scored against the GRU's soft lines
        assert math.isfinite(record["critic_train"]) and math.isfinite(record["critic_heldout"])
        assert record["critic_gap"] == record["critic_train"] - record["critic_heldout"]
    lines = textgan.sample(run, 5, seed=1, generator=make)
    assert len(lines) == 5 and all(isinstance(line, str) and len(line) <= 12 for line in lines)
    assert lines == textgan.sample(result.checkpoint, 5, seed=1, generator=make)
    resumed = textgan.train(textgan.TrainConfig(iters=6, **TINY), tiny_corpus, run,
                            resume=True, generator=make)  # fmt: skip
    assert resumed.iteration == 6
    with pytest.raises(TextganError, match="GRUGenerator"):
        textgan.sample(run, 2)  # the built-in generator cannot take these weights


def test_the_command_line_refuses_custom_runs_in_one_line(
    tiny_corpus: Path, tmp_path: Path, gru_class: type
) -> None:
    run = tmp_path / "gru"
    textgan.train(textgan.TrainConfig(iters=2, **TINY), tiny_corpus, run,
                  generator=small_gru(gru_class))  # fmt: skip
    runner = CliRunner()
    sampled = runner.invoke(app, ["sample", "--run-dir", str(run)])
    assert_one_line_error(sampled, "custom model", "GRUGenerator", "textgan.sample")
    resumed = runner.invoke(app, ["train", str(tiny_corpus), "--run-dir", str(run), "--resume",
                                  "--iters", "4"])  # fmt: skip
    assert_one_line_error(resumed, "GRUGenerator")


def test_a_generator_needs_noise_dim(tiny_corpus: Path, tmp_path: Path) -> None:
    class NoNoise(torch.nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return z

    with pytest.raises(TextganError, match="noise_dim"):
        textgan.train(textgan.TrainConfig(iters=2, **TINY), tiny_corpus, tmp_path / "r",
                      generator=NoNoise())  # fmt: skip
    assert not (tmp_path / "r").exists()
