"""Self-describing checkpoints: atomic writes, weights_only loads, newest-first lookup."""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from textgan.errors import TextganError
from textgan.models.build import BUILTIN_MODELS
from textgan.runtime.fileio import atomic_open

FORMAT = "textgan-checkpoint"
FORMAT_VERSION = 3  # 3: the run's loss, constraint, optimiser, critic norm and model classes;
# 2: conv weights are (kernel, in, out); 1 had nn.Conv1d's (out, in, kernel)
READABLE_VERSIONS = (1, 2, FORMAT_VERSION)
_NAME = re.compile(r"^ckpt-(\d{7,})\.pt$")
_TEMP_NAME = re.compile(r"^\.ckpt-\d{7,}\.pt\..+\.tmp$")  # atomic_open's temp files
REQUIRED_KEYS = ("iteration", "config", "model", "vocab", "generator", "critic")
_UNSAFE = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")  # torch's weights_only refusal


def checkpoint_path(run_dir: Path, iteration: int) -> Path:
    return run_dir / f"ckpt-{iteration:07d}.pt"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Checkpoints of a run, oldest first (temporary files never match)."""
    if not run_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in run_dir.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: Path) -> Path:
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        raise TextganError(f"no checkpoint found in {run_dir}")
    return checkpoints[-1]


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write to a temp file in the same directory, fsync, then rename over the target."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    with atomic_open(path) as f:
        torch.save(payload, f)
    _fsync_dir(path.parent)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint; untrusted pickles are refused (weights_only)."""
    path = Path(path)
    if not path.is_file():
        raise TextganError(f"checkpoint {path} does not exist")
    unreadable = f"{path} is not a readable checkpoint (truncated or corrupt)"
    if not zipfile.is_zipfile(path):  # torch.save writes a zip; a cut-off one has no directory
        raise TextganError(unreadable)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if found := _UNSAFE.search(str(err)):
            raise TextganError(
                f"{path} is not a safe textgan checkpoint: loading it would call "
                f"{found.group(1)}, and checkpoints hold only tensors and plain values"
            ) from err
        raise TextganError(unreadable) from err
    except Exception as err:  # torch.load raises many types on damaged files
        raise TextganError(unreadable) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TextganError(f"{path} is not a textgan checkpoint")
    if payload.get("format_version") not in READABLE_VERSIONS:
        raise TextganError(
            f"{path} was written by another textgan version (format "
            f"{payload.get('format_version')}, this one reads 1 to {FORMAT_VERSION})"
        )
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise TextganError(f"{path} is incomplete: missing {', '.join(missing)}")
    return _upgrade(payload)


def _upgrade(payload: dict[str, Any]) -> dict[str, Any]:
    """An older payload in the current format. Format 1 → 2: conv weights, and their Adam
    moments, go from (out, in, kernel) to (kernel, in, out) (the nets have no buffers, so their
    state-dict order is the optimisers' parameter order). 2 → 3: the run was WGAN-GP with Adam
    on the built-in models, which the config's defaults for the new options already say."""
    if payload["format_version"] == 1:
        for net, optimizer in (("generator", "opt_g"), ("critic", "opt_c")):
            moments = payload.get(optimizer, {}).get("state", {})
            for index, (name, weight) in enumerate(list(payload[net].items())):
                if weight.dim() != 3:
                    continue
                payload[net][name] = weight.permute(2, 1, 0).contiguous()
                for key, value in moments.get(index, {}).items():
                    if key in ("exp_avg", "exp_avg_sq"):
                        moments[index][key] = value.permute(2, 1, 0).contiguous()
        payload["format_version"] = 2
    if payload["format_version"] == 2:
        payload["models"] = dict(BUILTIN_MODELS)
        payload["format_version"] = 3
    return payload


def prune_checkpoints(run_dir: Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints (never the newest one), and the temp files
    of writes that a killed run left behind.

    Called right after a checkpoint was renamed into place, so the newest one is always whole;
    one process writes a run dir at a time, so any temp file left is a dead write's.
    Housekeeping only: a file that cannot be deleted is left for the next prune.
    """
    stale = [p for p in run_dir.iterdir() if _TEMP_NAME.match(p.name)] if run_dir.is_dir() else []
    for old in list_checkpoints(run_dir)[: -max(keep, 1)] + stale:
        with contextlib.suppress(OSError):
            old.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
