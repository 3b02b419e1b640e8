"""Rich renderings for the command line (used by cli.py only; the library never prints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from textgan import __version__
from textgan.config import TrainConfig
from textgan.evaluation.compare import option_text
from textgan.training.loop import STOPPED_BY_MINUTES, RunInfo, StepStats, TrainResult

EVAL_COLUMNS = {
    "js1": "js1", "js2": "js2", "js3": "js3", "js4": "js4", "quality": "quality",
    "coverage": "coverage", "word_validity": "words\nok",
    "in_test4": "in-test-4", "distinct": "distinct", "copied": "copied",
    "critic_train": "critic\ntrain", "critic_heldout": "critic\nheld-out",
    "critic_gap": "critic\ngap",
}  # fmt: skip
EVAL_ROWS_SHOWN = 6
NONE_SHOWN = {"minutes": "no limit"}  # how the start table shows an option left unset ("all")


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("? it/s" if speed is None else f"{speed:.2f} it/s", style="cyan")


class TrainingDisplay:
    """The run's configuration, then a live bar (it/s, ETA, losses) over the latest evaluations."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), _Rate(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"), console=console, speed_estimate_period=120,
        )  # fmt: skip
        self.task: Any = None
        self.floor: dict[str, float] = {}
        self.samples = 0  # scored per evaluation
        self.evals: list[dict[str, Any]] = []
        self.live = Live(console=console, refresh_per_second=4, transient=False)

    def __enter__(self) -> TrainingDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.live.stop()
            if not self.console.is_terminal:
                self.console.line()

    def start(self, info: RunInfo) -> None:
        self.console.print(config_table(info))
        if info.reseeded_from is not None:
            self.console.print(f"random streams re-seeded: the run moved from "
                               f"{info.reseeded_from} to {info.device.type}")  # fmt: skip
        self.floor, self.samples = info.floor, info.config.eval_samples
        self.task = self.progress.add_task(
            "train", total=info.config.iters, completed=info.start_iteration, losses=""
        )
        self.live.update(self._renderable())
        self.live.start()

    def step(self, stats: StepStats) -> None:
        losses = (f"critic {stats.critic_loss:+.3f}  gen {stats.generator_loss:+.3f}  "
                  f"W {stats.wasserstein:+.3f}")  # fmt: skip
        if stats.gp is not None:
            losses += f"  gp {stats.gp:.3f}"
        self.progress.update(self.task, completed=stats.iteration, losses=losses)

    def evaluation(self, record: dict[str, Any]) -> None:
        self.evals = [*self.evals, record][-EVAL_ROWS_SHOWN:]
        self.live.update(self._renderable())

    def _renderable(self) -> Group:
        if not self.floor and not self.evals:
            return Group(self.progress)
        return Group(eval_table(self.evals, self.floor, self.samples), self.progress)


def done_line(result: TrainResult, config: TrainConfig) -> str:
    """What the train command says last: how far the run got, why it stopped, and where."""
    if result.stopped != STOPPED_BY_MINUTES:
        return f"done: {result.iteration} iterations, checkpoint {result.checkpoint}"
    return (f"done: --minutes {config.minutes:g} ran out after {result.seconds / 60:.2f} minutes "
            f"of training, at iteration {result.iteration} of {config.iters}; checkpoint "
            f"{result.checkpoint} (continue with --resume and a larger --minutes)")  # fmt: skip


def eval_table(records: list[dict[str, Any]], floor: dict[str, float], samples: int) -> Table:
    table = Table(title=f"evaluation ({samples} samples; critic: its estimate on training and "
                  "on held-out text)", title_justify="left", box=box.SIMPLE_HEAD,
                  padding=(0, 0))  # fmt: skip
    table.add_column("iteration", justify="right")
    for title in EVAL_COLUMNS.values():
        table.add_column(title, justify="right")
    if floor:
        cells = [_fmt(floor.get(f"floor_{k}")) for k in EVAL_COLUMNS]
        table.add_row("floor", *cells, style="dim")
    for record in records:
        table.add_row(str(record["iteration"]), *(_fmt(record.get(k)) for k in EVAL_COLUMNS))
    return table


def scores_table(scores: dict[str, float], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in scores.items():
        table.add_row(key, _fmt(value))
    return table


def config_table(info: RunInfo) -> Table:
    kind = "resuming" if info.resumed else "new"
    table = Table(title=f"textgan {__version__}: {kind} run {info.run_dir}", show_header=False,
                  title_justify="left")  # fmt: skip
    rows = {
        k.replace("_", "-"): str(v) if v is not None else NONE_SHOWN.get(k, "all")
        for k, v in info.config.to_dict().items()
    }
    rows |= {
        "device": str(info.device),
        "processes": f"{info.world_size} (batch {info.world_size * info.config.batch_size} in all)",
        "precision": _precision(info),
        "engine": f"{info.engine} ({info.engine_reason})",
        "conv": info.conv or "the models' own layers",
        "training lines": f"{info.num_lines:,}",
        "held-out text": info.heldout_source,
        "corpus encoding": _corpus_encoding(info),
        "vocabulary": str(info.vocab_size),
        "start iteration": str(info.start_iteration),
    }
    for key, value in rows.items():
        table.add_row(key, value)
    return table


def _precision(info: RunInfo) -> str:
    """What the products run in, and why when it is not what --precision named (tf32 off CUDA)."""
    asked = info.config.precision
    if asked in ("auto", info.precision):
        return info.precision
    return f"{info.precision} (--precision {asked} is {info.precision} on {info.device.type})"


def _corpus_encoding(info: RunInfo) -> str:
    if info.corpus_cache_dir is None:
        return "built (not cached)"
    if info.corpus_cached:
        return f"from cache {info.corpus_cache_dir}"
    return f"built and cached in {info.corpus_cache_dir}"


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


class ImportDisplay:
    """A bytes-and-lines progress bar for `textgan corpus` (one task per phase)."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TextColumn("{task.fields[lines]:,} lines"),
            TimeRemainingColumn(), console=console,
        )  # fmt: skip
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> ImportDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, event: Any) -> None:
        if event.phase not in self.tasks:
            self.tasks[event.phase] = self.progress.add_task(event.phase, total=event.total_bytes,
                                                             lines=0)  # fmt: skip
        self.progress.update(self.tasks[event.phase], completed=event.done_bytes,
                             total=event.total_bytes, lines=event.lines)  # fmt: skip


COMPARE_ROWS = {
    "iterations": "iterations", "minutes": "minutes",
    **{f"js{n}": f"js{n} last / best" for n in range(1, 5)},
    "quality": "quality", "coverage": "coverage",
    "word_validity": "words ok", **{f"in_test{n}": f"in-test-{n}" for n in range(1, 5)},
    "distinct": "distinct", "copied": "copied", "critic_gap": "critic gap",
}  # fmt: skip


def compare_table(rows: list[dict[str, Any]], group_seeds: bool = False) -> Table:
    """`textgan compare`, one column per run (or group of seeds) so that a few runs fit a
    terminal: first the options that differ between them, then n (grouped), then the figures
    (mean±sd when grouped); each js-n cell holds the last and the best value. When no option
    tells the runs apart, the columns are headed by their run directories' names."""
    table = Table(title=f"{sum(r['n'] for r in rows)} runs", title_justify="left")
    table.add_column("")
    for row in rows:
        table.add_column(", ".join(Path(run).name for run in row["runs"]), justify="right")
    for key in rows[0]["options"] if rows else []:
        table.add_row(key, *(option_text(row["options"][key]) for row in rows), style="bold")
    if group_seeds:
        table.add_row("n", *(str(row["n"]) for row in rows))
    for key, title in COMPARE_ROWS.items():
        table.add_row(title, *(_compare_cell(row, key) for row in rows))
    return table


def _compare_cell(row: dict[str, Any], key: str) -> str:
    if key.startswith("js"):
        return f"{_spread(row, f'{key}_last')} / {_spread(row, f'{key}_best')}"
    return _spread(row, key)


def _spread(row: dict[str, Any], key: str) -> str:
    """A figure with 3 decimals (integers as they are), ±sd when grouped."""
    value, sd = row[key], row.get(f"{key}_sd")

    def text(x: Any) -> str:
        if x is None:
            return "-"
        return f"{x:.3f}" if isinstance(x, float) and not float(x).is_integer() else f"{x:g}"

    return text(value) if sd is None else f"{text(value)}±{text(sd)}"
