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
from textgan.config import CRITIC_OPTIONS, TrainConfig
from textgan.evaluation.compare import LAST_AND_BEST, option_text
from textgan.evaluation.runs import status_text
from textgan.rundir import records
from textgan.training.loop import STOPPED_BY_MINUTES, RunInfo, StepStats, TrainResult

EVAL_COLUMNS = {
    **{key: key for key in records.JS}, records.QUALITY: "quality",
    records.COVERAGE: "coverage", records.WORD_VALIDITY: "words\nok",
    records.in_test(4): "in-test-4", records.DISTINCT: "distinct", records.COPIED: "copied",
    records.CRITIC_TRAIN: "critic\ntrain", records.CRITIC_HELDOUT: "critic\nheld-out",
    records.CRITIC_GAP: "critic\ngap",
}  # fmt: skip
LM_EVAL_COLUMNS = {  # a language model's run: its held-out cross-entropy where the critic's are
    **{k: v for k, v in EVAL_COLUMNS.items() if k not in records.CRITIC_SCORES},
    records.HELDOUT_BPC: "held-out\nbpc",
}  # fmt: skip
LOSS_LABELS = {
    records.CRITIC_LOSS: "critic",
    records.GENERATOR_LOSS: "gen",
    records.WASSERSTEIN: "W",
    records.GP: "gp",
    records.TRAIN_BPC: "bpc",
}  # the progress bar's names
EVAL_ROWS_SHOWN = 6
# how the start table shows an option left unset (else "all")
NONE_SHOWN = {"minutes": "no limit", "lr_critic": "--lr", "lr_generator": "--lr",
              "eval_temperature": "by run kind", "lm": "none (a GAN)"}  # fmt: skip


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
        if info.rates_changed is not None:
            self.console.print(f"learning rates changed on resume: {info.rates_changed}")
        self.floor, self.samples = info.floor, info.config.eval_samples
        self.scored = scored_generator(info.config)
        self.language_model = not info.config.needs_critic
        self.task = self.progress.add_task(
            "train", total=info.config.iters, completed=info.start_iteration, losses=""
        )
        self.live.update(self._renderable())
        self.live.start()

    def step(self, stats: StepStats) -> None:
        losses = "  ".join(f"{LOSS_LABELS.get(name, name)} {value:+.3f}"
                           for name, value in stats.losses.items())  # fmt: skip
        self.progress.update(self.task, completed=stats.iteration, losses=losses)

    def evaluation(self, record: dict[str, Any]) -> None:
        self.evals = [*self.evals, record][-EVAL_ROWS_SHOWN:]
        self.live.update(self._renderable())

    def _renderable(self) -> Group:
        if not self.floor and not self.evals:
            return Group(self.progress)
        table = eval_table(self.evals, self.floor, self.samples, self.scored,
                           language_model=self.language_model)  # fmt: skip
        return Group(table, self.progress)


def done_line(result: TrainResult, config: TrainConfig) -> str:
    """What the train command says last: how far the run got, why it stopped, and where."""
    if result.stopped != STOPPED_BY_MINUTES:
        return f"done: {result.iteration} iterations, checkpoint {result.checkpoint}"
    return (f"done: --minutes {config.minutes:g} ran out after {result.seconds / 60:.2f} minutes "
            f"of training, at iteration {result.iteration} of {config.iters}; checkpoint "
            f"{result.checkpoint} (continue with --resume and a larger --minutes)")  # fmt: skip


def eval_table(
    evaluations: list[dict[str, Any]],
    floor: dict[str, float],
    samples: int,
    scored: str = "the generator",
    *,
    language_model: bool = False,
) -> Table:
    """The latest evaluations under the floor: a GAN's with its critic's estimates, a language
    model's with its held-out bits per character."""
    columns = LM_EVAL_COLUMNS if language_model else EVAL_COLUMNS
    last = ("held-out bpc: its cross-entropy on held-out text" if language_model
            else "critic: its estimate on training and on held-out text")  # fmt: skip
    table = Table(title=f"evaluation ({samples} samples of {scored}; {last})",
                  title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 0))  # fmt: skip
    table.add_column("iteration", justify="right")
    for title in columns.values():
        table.add_column(title, justify="right")
    if floor:
        cells = [_fmt(floor.get(records.floor(k))) for k in columns]
        table.add_row("floor", *cells, style="dim")
    for record in evaluations:
        cells = (_fmt(record.get(k)) for k in columns)
        table.add_row(str(record[records.ITERATION]), *cells)
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
    config = info.config
    rows = {
        k.replace("_", "-"): str(v) if v is not None else NONE_SHOWN.get(k, "all")
        for k, v in config.to_dict().items()
        if not (v is None and k in CRITIC_OPTIONS and not config.needs_critic)  # no critic
    }
    rates = (f"critic {config.critic_lr:g}, generator {config.generator_lr:g}"
             if config.needs_critic else f"language model {config.generator_lr:g}")  # fmt: skip
    if config.lr_decay != "none":
        rates += (
            f"; × {config.lr_factor(info.start_iteration):.3g} now ({config.lr_decay} to 0 at "
            f"iteration {config.iters:,})"
        )
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
        "learning rates": rates,
        "scored": scored_generator(info.config),
    }
    for key, value in rows.items():
        table.add_row(key, value)
    return table


def scored_generator(config: TrainConfig) -> str:
    """Which generator evaluation scores, in words."""
    if config.g_ema > 0:
        return f"the generator's average (--g-ema {config.g_ema:g})"
    return "the generator"


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


MISSING = "—"  # a figure or option a run has no value for
# The measured rows of `textgan compare` (its option rows are named as flags: --minutes vs
# minutes trained), and the one precision of each figure (a format of a float).
COMPARE_ROWS = {
    "iterations": "iterations done", "minutes": "minutes trained",
    **{key: f"{key} last / best" for key in records.JS},
    records.QUALITY: "quality", records.COVERAGE: "coverage",
    records.WORD_VALIDITY: "words ok",
    **{records.in_test(n): f"in-test-{n}" for n in records.NGRAM_ORDERS},
    records.DISTINCT: "distinct", records.COPIED: "copied", records.CRITIC_GAP: "critic gap",
    records.HELDOUT_BPC: "held-out bpc last / best",
}  # fmt: skip
COMPARE_FORMATS = {"iterations": ".0f", "minutes": ".2f"}  # else FIGURE_FORMAT
FIGURE_FORMAT = ".3f"


def compare_table(rows: list[dict[str, Any]], group_seeds: bool = False) -> Table:
    """`textgan compare`, one column per run (or group of seeds) so that a few runs fit a
    terminal: first the options that differ between them (named as flags, CORPUS for the
    corpus), then n (grouped), then the figures (mean±sd when grouped), each in one precision;
    each js-n cell holds the last and the best value; a missing value is MISSING. When no option
    tells the runs apart, the columns are headed by their run directories' names."""
    table = Table(title=f"{sum(r['n'] for r in rows)} runs", title_justify="left")
    table.add_column("")
    for row in rows:
        table.add_column(", ".join(Path(run).name for run in row["runs"]), justify="right")
    for kind, key, title in compare_rows(rows, group_seeds):
        if kind == "option":
            table.add_row(title, *(_option_cell(row["options"][key]) for row in rows),
                          style="bold")  # fmt: skip
        elif kind == "n":
            table.add_row(title, *(str(row["n"]) for row in rows))
        else:
            table.add_row(title, *(_compare_cell(row, key) for row in rows))
    return table


def compare_rows(
    rows: list[dict[str, Any]], group_seeds: bool = False
) -> list[tuple[str, str, str]]:
    """The rows of compare_table in order, as (kind, key, name shown): the options (kind
    "option", the corpus named CORPUS and the others as their flags), n when grouped, then the
    figures (kind "figure", COMPARE_ROWS)."""
    options = rows[0]["options"] if rows else {}
    names = [("option", key, "CORPUS" if key == "corpus" else "--" + key.replace("_", "-"))
             for key in options]  # fmt: skip
    if group_seeds:
        names.append(("n", "n", "n (runs)"))
    return names + [("figure", key, title) for key, title in COMPARE_ROWS.items()]


def _option_cell(value: Any) -> str:
    return MISSING if value is None else option_text(value)


def _compare_cell(row: dict[str, Any], key: str) -> str:
    if key in LAST_AND_BEST:
        return f"{_spread(row, f'{key}_last', key)} / {_spread(row, f'{key}_best', key)}"
    return _spread(row, key, key)


def _spread(row: dict[str, Any], key: str, figure: str) -> str:
    """A figure in its one precision, ±sd when grouped."""
    value, sd = row[key], row.get(f"{key}_sd")
    form = COMPARE_FORMATS.get(figure, FIGURE_FORMAT)

    def text(x: Any) -> str:
        return MISSING if x is None else format(float(x), form)

    return text(value) if sd is None else f"{text(value)}±{text(sd)}"


def runs_table(rows: list[dict[str, Any]], root: Path) -> Table:
    """`textgan runs`: a row per run, newest first; under each run's name its corpus and the
    options that differ from the defaults, which wrap to what the terminal leaves them."""
    table = Table(title=f"{len(rows)} runs in {root}/", title_justify="left", box=box.SIMPLE_HEAD,
                  padding=(0, 1), leading=1)  # fmt: skip
    table.add_column("run, corpus, options", ratio=1, min_width=16)
    for title in ("iterations", "minutes", "js4 last / best"):
        table.add_column(title, justify="right", no_wrap=True)
    table.add_column("status", min_width=8)
    for row in rows:
        options = " ".join(f"{k.replace('_', '-')}={option_text(v)}"
                           for k, v in row["options"].items())  # fmt: skip
        run = Text(row["name"], style="bold")
        run.append(f"\n{row['corpus']}")
        run.append(f"\n{options or 'defaults'}", style="dim")
        js4 = f"{_or_missing(row['js4_last'])} / {_or_missing(row['js4_best'])}"
        js4 = js4 if row["js4_last"] is not None else MISSING
        minutes = MISSING if row["minutes"] is None else f"{row['minutes']:.1f}"
        planned = MISSING if row["iters"] is None else f"{row['iters']:,}"
        table.add_row(run, f"{row['iterations']:,} / {planned}", minutes, js4, status_text(row))
    return table


def _or_missing(value: float | None) -> str:
    return MISSING if value is None else format(value, FIGURE_FORMAT)
