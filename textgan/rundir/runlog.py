"""The human-readable files of a run dir: config.json, floor.json, metrics.jsonl, samples.txt."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from textgan.config import TrainConfig
from textgan.errors import TextganError
from textgan.runtime.fileio import atomic_write_text

METRICS = "metrics.jsonl"
SAMPLES = "samples.txt"
FLOOR = "floor.json"
CONFIG = "config.json"


def write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def append_metrics(run_dir: Path, record: dict[str, Any]) -> None:
    clean = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()
    }
    with open(run_dir / METRICS, "a", encoding="utf-8") as f:
        f.write(json.dumps(clean) + "\n")


def append_samples(run_dir: Path, iteration: int, samples: list[str]) -> None:
    with open(run_dir / SAMPLES, "a", encoding="utf-8") as f:
        f.write(f"# iteration {iteration}\n" + "".join(s + "\n" for s in samples))


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / METRICS
    if not path.is_file():
        raise TextganError(f"{run_dir} has no {METRICS}: train with --eval-every > 0")
    return _loads(path)  # a torn last line (a run killed mid-write) is skipped


class NotARun(TextganError):
    """A folder without a config.json."""


def read_config(run_dir: Path) -> dict[str, Any]:
    """A run's config.json: {"corpus": ..., **TrainConfig fields}; NotARun without one. A field
    that the run's textgan did not have yet (--lr-decay, say) is added at its default, which is
    how that run trained, so runs of different versions compare by what they did."""
    path = run_dir / CONFIG
    if not path.is_file():
        raise NotARun(f"{run_dir} is not a run directory: it has no {CONFIG}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TextganError(f"cannot read {path}: {err}") from err
    if not isinstance(config, dict):
        raise TextganError(f"{path} is not a JSON object")
    return config | {k: v for k, v in TrainConfig().to_dict().items() if k not in config}


def read_floor(run_dir: Path) -> dict[str, float]:
    path = run_dir / FLOOR
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def truncate_after(run_dir: Path, iteration: int) -> None:
    """On resume: forget evaluations newer than the checkpoint being resumed."""
    path = run_dir / METRICS
    if path.is_file():
        kept = [r for r in _loads(path) if r.get("iteration", 0) <= iteration]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
    path = run_dir / SAMPLES
    if path.is_file():
        blocks = path.read_text(encoding="utf-8").split("# iteration ")
        kept_blocks = [b for b in blocks[1:] if int(b.split("\n", 1)[0]) <= iteration]
        atomic_write_text(path, "".join("# iteration " + b for b in kept_blocks))


def _loads(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
