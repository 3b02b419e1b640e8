"""Temperature sweeps: each run's samples at several temperatures, scored as an evaluation scores
them, so runs can be compared over the whole quality–coverage trade-off (Caccia et al. 2020,
"Language GANs Falling Short") rather than at one decoding."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from textgan.config import SAMPLE_DEVICE
from textgan.errors import TextganError
from textgan.evaluation.compare import labels_and_groups
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
    group_seeds: bool = False,
) -> list[dict[str, Any]]:
    """One row per run and temperature: `run`, `temperature`, the scores of an evaluation (js1..4,
    quality, coverage, word measures) and the run's validation floor (`floor_*`).

    Each run's n samples are generated on device by its kind's sampler (run_kinds.py) from the
    same seed at every temperature, and scored against the run's own corpus and vocabulary.
    group_seeds: the runs that `compare --group-seeds` merges (they differ only in --seed and
    what a resume may change) make one row per temperature instead (merge_seeds)."""
    if n <= 0:
        raise TextganError(f"-n must be a positive number of samples, got {n}")
    if not runs or not temperatures:
        raise TextganError("a sweep needs at least one run and one temperature")
    checkpoints = [run_checkpoint(Path(run)) for run in runs]  # every run found before any work
    if len({path.resolve() for path in checkpoints}) != len(checkpoints):
        raise TextganError("a run is named twice: each run's rows and curve would be merged")
    rows, configs = [], []
    for run, path in zip(runs, checkpoints, strict=True):
        checkpoint = load_checkpoint(path)
        configs.append({"corpus": checkpoint.corpus, **checkpoint.config})
        generate = load_sampler(checkpoint, device)
        evaluator = checkpoint_evaluator(checkpoint, n=n)
        for temperature in temperatures:
            scores = evaluator.score(generate(n, seed, temperature)).scores
            rows.append({"run": str(run), "temperature": temperature, **scores,
                         **evaluator.floor})  # fmt: skip
    return merge_seeds(rows, configs) if group_seeds else rows


def merge_seeds(rows: list[dict[str, Any]], configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """sweep_runs' rows (each run's, in the order of configs, one per temperature) merged over
    each group of runs that compare.seed_groups puts together: per group and temperature, `run`
    (the group's label: the options that differ between the groups and `(n runs)`), `runs`,
    `n`, `temperature`, and each figure's mean (None values skipped) with `<figure>_sd`, its
    sample standard deviation (None below two values)."""
    runs = list(dict.fromkeys(row["run"] for row in rows))
    if len(runs) != len(configs):
        raise TextganError(f"{len(runs)} runs swept but {len(configs)} configs to group them by")
    labels, group_of = labels_and_groups(configs, [Path(run).name for run in runs], True)
    merged = []
    for group in dict.fromkeys(group_of):
        members = [run for run, g in zip(runs, group_of, strict=True) if g == group]
        temperatures = dict.fromkeys(r["temperature"] for r in rows if r["run"] == members[0])
        for temperature in temperatures:
            points = [r for r in rows if r["run"] in members and r["temperature"] == temperature]
            row: dict[str, Any] = {"run": labels[group_of.index(group)], "runs": members,
                                   "n": len(members), "temperature": temperature}  # fmt: skip
            for key in (k for k in points[0] if k not in ("run", "temperature")):
                values = [p[key] for p in points if p.get(key) is not None]
                row[key] = statistics.mean(values) if values else None
                row[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else None
            merged.append(row)
    return merged
