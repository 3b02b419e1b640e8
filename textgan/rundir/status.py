"""status.json: why a run's training stopped, written by the loop as it stops.

A run whose process is still training, or was killed without a chance to write (kill -9, power
loss), has none: the loop deletes the file when it starts or resumes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from textgan.errors import TextganError
from textgan.runtime.fileio import atomic_write_text

STATUS = "status.json"
FINISHED = "finished"  # RunStatus.status: it reached --iters
STOPPED = "stopped"  # stopped early: RunStatus.reason says why
REASON_ITERS = "iters"  # RunStatus.reason
REASON_MINUTES = "minutes"  # its --minutes budget ran out
REASON_SIGNAL = "signal"  # SIGINT or SIGTERM (RunStatus.signal)
REASON_NAN = "nan"  # a non-finite loss
REASONS = (REASON_ITERS, REASON_MINUTES, REASON_SIGNAL, REASON_NAN)


@dataclass(frozen=True)
class RunStatus:
    """Why training stopped, at which iteration (of the planned `iters`), after how many
    seconds of the run's training time, and when (UTC, ISO 8601)."""

    reason: str
    iteration: int
    iters: int
    seconds: float
    time: str = ""
    signal: str | None = None  # the signal's name, with REASON_SIGNAL
    checkpoint: str | None = None  # the newest checkpoint's file name, where one was written

    @property
    def status(self) -> str:
        return FINISHED if self.reason == REASON_ITERS else STOPPED


def write_status(run_dir: Path, status: RunStatus) -> None:
    """Write status.json atomically (the time filled in now, unless given)."""
    data: dict[str, Any] = {"status": status.status, **asdict(status)}
    data["time"] = status.time or datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        atomic_write_text(run_dir / STATUS, json.dumps(data, indent=2) + "\n")
    except OSError as err:
        raise TextganError(f"cannot write {run_dir / STATUS}: {err.strerror or err}") from err


def clear_status(run_dir: Path) -> None:
    """The run is training again: it has no status until it stops."""
    try:
        (run_dir / STATUS).unlink(missing_ok=True)
    except OSError as err:
        raise TextganError(f"cannot write to run dir {run_dir}: {err.strerror or err}") from err


def read_status(run_dir: Path) -> RunStatus | None:
    """The run's status.json; None when it has none or it cannot be read as one."""
    try:
        data = json.loads((run_dir / STATUS).read_text(encoding="utf-8"))
        fields = {k: data[k] for k in RunStatus.__dataclass_fields__ if k in data}
        status = RunStatus(**fields)
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError):
        return None
    return status if status.reason in REASONS else None
