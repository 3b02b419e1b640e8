"""Sampling and evaluating on a device: the checkpoint is loaded on the CPU and only the
generator moves. A device without CUDA here: asking for "cuda" while Generator.to only records
where it was asked to go, so any other tensor sent to CUDA fails."""

import inspect
from pathlib import Path

import pytest
import torch
from typer.main import get_command

from textgan import TrainConfig, train
from textgan.cli.app import app
from textgan.config import SAMPLE_DEVICE
from textgan.evaluation.evaluator import evaluate_checkpoint
from textgan.evaluation.sampling import sample
from textgan.models.resnet import Generator
from textgan.rundir.checkpoint import load_checkpoint

CONFIG = TrainConfig(dim=8, n_blocks=1, seq_len=12, batch_size=16, critic_iters=1, iters=1,
                     device="cpu", eval_every=0, eval_samples=32)  # fmt: skip
CUDA = torch.device("cuda")


@pytest.fixture
def checkpoint(tiny_corpus: Path, tmp_path: Path) -> Path:
    return train(CONFIG, tiny_corpus, tmp_path / "run").checkpoint


@pytest.fixture
def moves(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """Where torch.load maps a checkpoint, and where generators are sent (they stay put)."""
    seen: dict[str, list] = {"map_location": [], "generator": []}
    real_load = torch.load

    def load(*args, **kwargs):
        seen["map_location"].append(kwargs.get("map_location"))
        return real_load(*args, **kwargs)

    def to(self, device):
        seen["generator"].append(torch.device(device))
        return self

    monkeypatch.setattr(torch, "load", load)
    monkeypatch.setattr(Generator, "to", to)
    return seen


def test_sampling_on_a_device_loads_on_cpu_and_moves_only_the_generator(
    checkpoint: Path, moves: dict[str, list]
) -> None:
    lines = sample(checkpoint, 4, seed=1, device=CUDA)
    assert moves == {"map_location": ["cpu"], "generator": [CUDA]}
    assert len(lines) == 4


def test_evaluating_on_a_device_moves_only_the_generator(
    checkpoint: Path, moves: dict[str, list]
) -> None:
    scores = evaluate_checkpoint(load_checkpoint(checkpoint), n=32, device=CUDA)
    assert moves == {"map_location": ["cpu"], "generator": [CUDA]}
    assert scores["samples"] == 32 and 0 <= scores["js4"] <= 1


def test_sample_and_eval_generate_on_the_cpu_unless_asked() -> None:
    """So that seeded samples and scores are the same on every machine."""
    commands = get_command(app).commands
    defaults = [
        inspect.signature(sample).parameters["device"].default,
        inspect.signature(evaluate_checkpoint).parameters["device"].default,
        *(next(p for p in commands[c].params if p.name == "device").default
          for c in ("sample", "eval")),
    ]  # fmt: skip
    assert defaults == [SAMPLE_DEVICE] * 4 and SAMPLE_DEVICE == "cpu"
