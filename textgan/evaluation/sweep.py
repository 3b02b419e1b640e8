"""Temperature sweeps: each run's samples at several temperatures, scored as an evaluation scores
them, so runs can be compared over the whole quality–coverage trade-off (Caccia et al. 2020,
"Language GANs Falling Short") rather than at one decoding."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from textgan.config import SAMPLE_DEVICE
from textgan.errors import TextganError
from textgan.evaluation.evaluator import checkpoint_evaluator
from textgan.evaluation.run_kinds import load_sampler
from textgan.rundir.checkpoint import latest_checkpoint, load_checkpoint


def parse_temperatures(text: str) -> tuple[float, ...]:
    """`0,0.5,1` → (0.0, 0.5, 1.0): finite, ≥ 0, at least one, none twice."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise TextganError(
            f"--temperatures must be numbers separated by commas, e.g. 0,0.5,1; got {text!r}"
        ) from None
    for value in values:
        if not math.isfinite(value) or value < 0:
            raise TextganError(f"--temperatures must be finite and >= 0, got {value:g}")
    if len(set(values)) != len(values):
        raise TextganError(f"--temperatures names a temperature twice: {text}")
    return values


def run_checkpoint(run: Path) -> Path:
    """A run directory's newest checkpoint, or the checkpoint file itself."""
    if not run.exists():
        raise TextganError(f"run {run} does not exist")
    return latest_checkpoint(run) if run.is_dir() else run


def sweep_runs(
    runs: Sequence[Path],
    temperatures: Sequence[float],
    n: int,
    seed: int = 0,
    device: torch.device | str = SAMPLE_DEVICE,
) -> list[dict[str, Any]]:
    """One row per run and temperature: `run`, `temperature`, the scores of an evaluation (js1..4,
    quality, coverage, word measures) and the run's validation floor (`floor_*`).

    Each run's n samples are generated on device by its kind's sampler (run_kinds.py) from the
    same seed at every temperature, and scored against the run's own corpus and vocabulary."""
    if n <= 0:
        raise TextganError(f"-n must be a positive number of samples, got {n}")
    if not runs or not temperatures:
        raise TextganError("a sweep needs at least one run and one temperature")
    checkpoints = [run_checkpoint(Path(run)) for run in runs]  # every run found before any work
    if len({path.resolve() for path in checkpoints}) != len(checkpoints):
        raise TextganError("a run is named twice: each run's rows and curve would be merged")
    rows = []
    for run, path in zip(runs, checkpoints, strict=True):
        checkpoint = load_checkpoint(path)
        generate = load_sampler(checkpoint, device)
        evaluator = checkpoint_evaluator(checkpoint, n=n)
        for temperature in temperatures:
            scores = evaluator.score(generate(n, seed, temperature)).scores
            rows.append({"run": str(run), "temperature": temperature, **scores,
                         **evaluator.floor})  # fmt: skip
    return rows
