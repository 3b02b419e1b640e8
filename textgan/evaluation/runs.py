"""`textgan runs`: the runs in a folder, newest first, each with how far it got and why it
stopped (rundir.status), its options that differ from the defaults and its js4."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from textgan.config import TrainConfig
from textgan.configfile import option_types
from textgan.errors import TextganError
from textgan.objectives.registry import parameter_fields
from textgan.rundir import runlog
from textgan.rundir.checkpoint import list_checkpoints
from textgan.rundir.status import (
    FINISHED,
    REASON_ITERS,
    REASON_MINUTES,
    REASON_NAN,
    REASON_SIGNAL,
    STATUS,
    STOPPED,
    read_status,
)

INCOMPLETE = "incomplete"  # no status.json: no checkpoint yet, still training, or killed
# Options a listing leaves out: shown in other columns (iters, minutes), or how and where a run
# ran and kept its records rather than what it trained.
HIDDEN_OPTIONS = ("iters", "minutes", "checkpoint_every", "keep", "eval_every", "eval_samples",
                  "device", "precision", "conv", "engine", "tensorboard")  # fmt: skip
_CHECKPOINT = re.compile(r"^ckpt-(\d{7,})\.pt$")


def list_runs(root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """(one row per run directory under root, newest activity first; a note per directory that
    is not a run, which is skipped). Raises a TextganError when root is not a folder."""
    if not root.is_dir():
        raise TextganError(f"{root} is not a folder of runs")
    rows, notes = [], []
    for path in sorted(root.iterdir()):
        if not path.is_dir():
            continue
        try:
            rows.append(run_row(path))
        except TextganError as err:
            notes.append(f"skipped {path}: {err}")
    rows.sort(key=lambda row: row.pop("_mtime"), reverse=True)
    return rows, notes


def run_row(run_dir: Path) -> dict[str, Any]:
    """What `textgan runs` shows of one run; a TextganError when run_dir is not a run."""
    config = _run_config(run_dir)
    checkpoints = list_checkpoints(run_dir)
    done = int(_CHECKPOINT.match(checkpoints[-1].name).group(1)) if checkpoints else 0
    planned = config.get("iters")
    records = _metrics(run_dir)
    js4 = [r["js4"] for r in records if isinstance(r.get("js4"), int | float)]
    stop = read_status(run_dir)
    seconds = stop.seconds if stop is not None else _last_seconds(records)
    if stop is not None:
        status, reason = stop.status, stop.reason
    elif checkpoints and done == planned:  # a run from before status.json
        status, reason = FINISHED, REASON_ITERS
    else:
        status, reason = INCOMPLETE, None
    row = {
        "run": str(run_dir),
        "name": run_dir.name,
        "corpus": Path(str(config.get("corpus", ""))).name,
        "options": changed_options(config),
        "iterations": done,
        "iters": planned,
        "minutes": None if seconds is None else seconds / 60,
        "js4_last": js4[-1] if js4 else None,
        "js4_best": min(js4) if js4 else None,
        "status": status,
        "reason": reason,
        "signal": stop.signal if stop is not None else None,
        "stopped_at": stop.iteration if stop is not None else None,
        "budget": config.get("minutes"),
        "checkpoints": len(checkpoints),
    }
    files = [run_dir / runlog.CONFIG, run_dir / runlog.METRICS, run_dir / STATUS, *checkpoints]
    row["_mtime"] = max(f.stat().st_mtime for f in files if f.exists())
    return row


def status_text(row: dict[str, Any]) -> str:
    """A row's status in words: finished, stopped: why, or incomplete: what is known."""
    reason = row["reason"]
    if row["status"] == FINISHED:
        return FINISHED
    if row["status"] == STOPPED:
        if reason == REASON_MINUTES:
            budget = row["budget"]
            return f"{STOPPED}: --minutes {budget:g}" if budget else f"{STOPPED}: budget"
        if reason == REASON_SIGNAL:
            return f"{STOPPED}: {row['signal'] or 'signal'}"
        if reason == REASON_NAN:
            return f"{STOPPED}: NaN at {row['stopped_at']}"
        return STOPPED
    if not row["checkpoints"]:
        return f"{INCOMPLETE}: no checkpoint"
    return f"{INCOMPLETE}: running or killed"


def changed_options(config: dict[str, Any]) -> dict[str, Any]:
    """The run's options that differ from textgan train's defaults (a penalty weight or a
    clipping bound compared with its default where it applies; a language model's with those of
    its loss, which has no critic's), less HIDDEN_OPTIONS."""
    defaults = TrainConfig().to_dict()
    try:  # a penalty weight or clipping bound: its default where it applies, else None
        loss = config.get("loss", defaults["loss"])
        if not TrainConfig(loss=loss).needs_critic:
            defaults = TrainConfig(loss=loss).to_dict() | {"loss": defaults["loss"]}
        else:
            filled = TrainConfig(constraint=config.get("constraint", defaults["constraint"]))
            defaults |= {name: getattr(filled, name) for name in parameter_fields()}
    except TextganError:  # a loss or constraint this textgan does not know
        pass
    changed = {}
    for name in option_types():
        if name not in HIDDEN_OPTIONS and name in config and config[name] != defaults[name]:
            changed[name] = config[name]
    return changed


def _run_config(run_dir: Path) -> dict[str, Any]:
    try:
        config = runlog.read_config(run_dir)
    except runlog.NotARun as err:
        raise TextganError(f"not a run (no {runlog.CONFIG})") from err
    if "corpus" not in config or "iters" not in config:
        raise TextganError(f"its {runlog.CONFIG} is not a textgan run's")
    return config


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    try:
        return [r for r in runlog.read_metrics(run_dir) if isinstance(r, dict)]
    except (TextganError, OSError, UnicodeDecodeError):
        return []


def _last_seconds(records: list[dict[str, Any]]) -> float | None:
    seconds = [r["seconds"] for r in records if isinstance(r.get("seconds"), int | float)]
    return seconds[-1] if seconds else None
