"""Checkpoint files: atomic writes, weights_only loads, newest-first lookup, pruning (what they
hold: schema.Checkpoint)."""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import zipfile
from pathlib import Path

import torch

from textgan.errors import TextganError
from textgan.rundir.schema import Checkpoint
from textgan.runtime.fileio import atomic_open

_NAME = re.compile(r"^ckpt-(\d{7,})\.pt$")
_TEMP_NAME = re.compile(r"^\.ckpt-\d{7,}\.pt\..+\.tmp$")  # atomic_open's temp files
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


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Write to a temp file in the same directory, fsync, then rename over the target."""
    with atomic_open(path) as f:
        torch.save(checkpoint.to_payload(), f)
    _fsync_dir(path.parent)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Load, validate and upgrade a checkpoint; untrusted pickles are refused (weights_only)."""
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
    return Checkpoint.from_payload(payload, str(path))


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
