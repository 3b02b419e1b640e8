"""status.json: written atomically, read back, and anything else read as no status."""

from __future__ import annotations

import json
from pathlib import Path

from textgan.rundir.status import (
    FINISHED,
    STATUS,
    STOPPED,
    RunStatus,
    clear_status,
    read_status,
    write_status,
)


def test_status_round_trip_and_what_is_not_one(tmp_path: Path) -> None:
    assert read_status(tmp_path) is None
    write_status(tmp_path, RunStatus("signal", 7, 100, 12.5, signal="SIGTERM",
                                     checkpoint="ckpt-0000007.pt"))  # fmt: skip
    data = json.loads((tmp_path / STATUS).read_text())
    assert data["status"] == STOPPED and data["reason"] == "signal" and data["time"]
    read = read_status(tmp_path)
    assert read is not None and read.status == STOPPED and read.signal == "SIGTERM"
    assert (read.iteration, read.iters, read.seconds) == (7, 100, 12.5)
    write_status(tmp_path, RunStatus("iters", 100, 100, 60.0))
    assert read_status(tmp_path).status == FINISHED
    assert [p.name for p in tmp_path.iterdir()] == [STATUS]  # no temp file left
    for broken in ("{", "[]", '{"reason": "bored", "iteration": 1, "iters": 2, "seconds": 0}',
                   '{"reason": "iters"}'):  # fmt: skip
        (tmp_path / STATUS).write_text(broken)
        assert read_status(tmp_path) is None, broken
    clear_status(tmp_path)
    clear_status(tmp_path)  # none: nothing to do
    assert not (tmp_path / STATUS).exists()
