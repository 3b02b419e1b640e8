"""--tensorboard: a run's scalars, samples and options as TensorBoard events in RUN/tb/.

Tags are metrics.jsonl's keys (rundir/records.py): `train/<key>` for what an iteration
measures (its losses, the training time, iterations per second, the learning rates),
`eval/<key>` for an evaluation's scores; `eval/samples` holds an evaluation's first
SAMPLES_SHOWN samples as text. The run's options are its hyperparameters, with eval/js4 (its
last value: the final js4) as their metric in the HParams view. A resumed run purges what the
process before it logged after the checkpoint it resumes, so no step is logged twice.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from textgan.errors import TextganError
from textgan.rundir import records

TB_DIR = "tb"
TRAIN_EVERY = 10  # iterations between the training scalars (also at every evaluation)
SAMPLES_SHOWN = 20
NOT_LOGGED = (records.ITERATION, records.SECONDS)  # a record's step and clock
METRIC = f"eval/{records.js(4)}"
INSTALL_HINT = 'pip install "textgan[tensorboard]"'


def require_tensorboard() -> None:
    """A TextganError saying how to install the package, where it is missing."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError as err:
        raise TextganError(f"--tensorboard needs the tensorboard package: {INSTALL_HINT}") from err


class TensorBoardLog:
    """Rank 0's event writer for one process's share of a run."""

    def __init__(self, run_dir: Path, start_iteration: int, hparams: dict[str, Any]) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams as hparams_summaries

        # Each process's file starts with a session start at the first step it trains: on a
        # resumed run, TensorBoard's reader drops what was logged from that step on (after the
        # checkpoint resumed) by the process before, which is logged again. (It takes a run's
        # first start for no restart: the first process writes one too.)
        purge = start_iteration + 1
        try:
            self.writer = SummaryWriter(log_dir=str(run_dir / TB_DIR), purge_step=purge)
        except OSError as err:
            raise TextganError(f"cannot write {run_dir / TB_DIR}: {err.strerror or err}") from err
        for summary in hparams_summaries(hparam_values(hparams), {METRIC: math.nan}):
            self.writer.file_writer.add_summary(summary)
        self.last: tuple[int, float] | None = None  # (iteration, seconds) last logged

    def step(self, iteration: int, seconds: float, losses: dict[str, float],
             learning_rates: dict[str, float], evaluated: bool, last: bool) -> None:  # fmt: skip
        """The training scalars of iteration (its losses by their metrics names, the training
        time, the learning rates), every TRAIN_EVERY and where it was evaluated or is the
        process's last; iterations_per_second is over the iterations since the last."""
        if not (evaluated or last or iteration % TRAIN_EVERY == 0):
            return
        values = {**losses, "seconds": seconds}
        if self.last is not None and seconds > self.last[1]:
            values["iterations_per_second"] = (iteration - self.last[0]) / (seconds - self.last[1])
        values |= {f"lr_{name}": lr for name, lr in learning_rates.items()}
        for key, value in values.items():
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(f"train/{key}", value, iteration)
        self.last = (iteration, seconds)

    def evaluation(self, record: dict[str, Any], samples: list[str]) -> None:
        iteration = record["iteration"]
        for key, value in record.items():
            if key in NOT_LOGGED or key in records.TRAINING or not isinstance(value, int | float):
                continue
            if math.isfinite(value):
                self.writer.add_scalar(f"eval/{key}", value, iteration)
        shown = samples[:SAMPLES_SHOWN]
        # markdown: an indented block keeps each sample on its own line, spaces as they are
        self.writer.add_text("eval/samples", "\n".join("    " + s for s in shown), iteration)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def hparam_values(options: dict[str, Any]) -> dict[str, Any]:
    """Options as the HParams view takes them: lists as `a,b`; unset ones (None) left out, and
    --tensorboard itself (on in every run the view shows)."""
    values = {}
    for key, value in options.items():
        if key == "tensorboard":
            continue
        if isinstance(value, list | tuple):
            value = ",".join(str(item) for item in value)
        if value is not None:
            values[key] = value
    return values
