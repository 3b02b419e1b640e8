"""The `textgan` command line: a thin typer layer over the library. The only module that prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from textgan import __version__
from textgan.config import TrainConfig, resolve_config
from textgan.device import resolve_device
from textgan.errors import TextganError
from textgan.fileio import atomic_write_text
from textgan.train import RunInfo, StepStats, resume_config, train

app = typer.Typer(
    name="textgan",
    help="Character-level Wasserstein GANs with gradient penalty (WGAN-GP) for text.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
DEFAULTS = TrainConfig()
RUNS_ROOT = Path("runs")


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(Text(f"error: {message}", style="bold red"), soft_wrap=True)
    return typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        console.print(f"textgan {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Character-level Wasserstein GANs with gradient penalty (WGAN-GP) for text."""


def _default(name: str) -> str:
    return str(getattr(DEFAULTS, name))


PRESET_HELP = "[default: from --preset]"


@app.command("train")
def train_command(
    corpus: Annotated[Path, typer.Argument(help="UTF-8 text file, one example per line.")],
    run_dir: Annotated[
        Path | None, typer.Option(help="Run directory [default: runs/<corpus>-<time>].")
    ] = None,
    preset: Annotated[
        str, typer.Option(help="auto (paper on CUDA, cpu otherwise), paper or cpu.")
    ] = "auto",
    iters: Annotated[
        int | None, typer.Option(help=f"Total iterations, also when resuming. {PRESET_HELP}")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Batch size.", show_default=_default("batch_size"))
    ] = None,
    critic_iters: Annotated[
        int | None, typer.Option(help=f"Critic steps per generator step. {PRESET_HELP}")
    ] = None,
    dim: Annotated[int | None, typer.Option(help=f"Channels of every conv. {PRESET_HELP}")] = None,
    n_blocks: Annotated[
        int | None,
        typer.Option(help="Residual blocks per net.", show_default=_default("n_blocks")),
    ] = None,
    seq_len: Annotated[
        int | None, typer.Option(help="Characters per line.", show_default=_default("seq_len"))
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help="Adam learning rate.", show_default=_default("lr"))
    ] = None,
    gp_weight: Annotated[
        float | None,
        typer.Option(help="Gradient penalty weight λ.", show_default=_default("gp_weight")),
    ] = None,
    max_vocab: Annotated[
        int | None,
        typer.Option(help="Vocabulary size incl. pad and unk.", show_default=_default("max_vocab")),
    ] = None,
    checkpoint_every: Annotated[
        int | None,
        typer.Option(
            help="Iterations between checkpoints.", show_default=_default("checkpoint_every")
        ),
    ] = None,
    keep: Annotated[
        int | None,
        typer.Option(help="Checkpoints kept (newest).", show_default=_default("keep")),
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu or cuda.", show_default=_default("device"))
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="auto (bf16 where fast), fp32 or bf16.", show_default=_default("precision")
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Random seed.", show_default=_default("seed"))
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --run-dir.")] = False,
) -> None:
    """Train a WGAN-GP on the lines of CORPUS, cut or padded to --seq-len characters."""
    options = dict(iters=iters, batch_size=batch_size, critic_iters=critic_iters, dim=dim,
                   n_blocks=n_blocks, seq_len=seq_len, lr=lr, gp_weight=gp_weight,
                   max_vocab=max_vocab, checkpoint_every=checkpoint_every, keep=keep,
                   device=device, precision=precision, seed=seed)  # fmt: skip
    try:
        config = _train_config(preset, options, run_dir, resume)
        with _TrainingDisplay(config) as display:
            result = train(config, corpus, run_dir, resume=resume, on_start=display.start,
                           on_step=display.step)  # fmt: skip
    except TextganError as err:
        raise _fail(str(err)) from None
    except KeyboardInterrupt:
        raise _fail("interrupted; the newest checkpoint is kept", 130) from None
    console.print(f"done: {result.iteration} iterations, checkpoint {result.checkpoint}")


def _train_config(
    preset: str, options: dict[str, Any], run_dir: Path | None, resume: bool
) -> TrainConfig:
    if resume:
        if run_dir is None:
            raise TextganError("--resume needs --run-dir (the run to continue)")
        return resume_config(run_dir, **options)
    device_type = resolve_device(options["device"] or DEFAULTS.device).type
    return resolve_config(preset, device_type, **options)


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("?  it/s" if speed is None else f"{speed:.2f} it/s", style="cyan")


class _TrainingDisplay:
    """Config table at start, then a live bar with it/s, ETA and the losses."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.progress = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), _Rate(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            TextColumn("{task.fields[losses]}"), console=console, speed_estimate_period=60,
        )  # fmt: skip
        self.task = None

    def __enter__(self) -> _TrainingDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.progress.stop()

    def start(self, info: RunInfo) -> None:
        console.print(_config_table(info))
        self.task = self.progress.add_task(
            "train", total=info.config.iters, completed=info.start_iteration, losses=""
        )
        self.progress.start()

    def step(self, stats: StepStats) -> None:
        losses = (f"critic {stats.critic_loss:+.3f}  gen {stats.generator_loss:+.3f}  "
                  f"W {stats.wasserstein:+.3f}  gp {stats.gp:.3f}")  # fmt: skip
        self.progress.update(self.task, completed=stats.iteration, losses=losses)


def _config_table(info: RunInfo) -> Table:
    kind = "resuming" if info.resumed else "new"
    title = f"textgan {__version__}: {kind} run {info.run_dir}"
    table = Table(title=title, show_header=False, title_justify="left")
    rows = {k.replace("_", "-"): str(v) for k, v in info.config.to_dict().items()}
    rows |= {
        "device": str(info.device),
        "precision": info.precision,
        "lines": f"{info.num_lines:,}",
        "vocabulary": str(info.vocab_size),
        "start iteration": str(info.start_iteration),
    }
    for key, value in rows.items():
        table.add_row(key, value)
    return table


@app.command("sample")
def sample_command(
    n: Annotated[int, typer.Option("-n", "--num", help="Number of lines.")] = 20,
    run_dir: Annotated[
        Path | None, typer.Option(help="Run to sample from [default: newest under runs/].")
    ] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint file to sample from.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for repeatable samples.")] = None,
    temperature: Annotated[
        float, typer.Option(help="0 = argmax; > 0 draws from the softmax.")
    ] = 0.0,
    out: Annotated[Path | None, typer.Option(help="Write the lines to this file.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "cpu",
) -> None:
    """Print generated lines, decoded by argmax (one line per sample, padding stripped)."""
    from textgan.sample import sample

    try:
        source = checkpoint or run_dir or _newest_run(RUNS_ROOT)
        lines = sample(source, n, seed, temperature, resolve_device(device))
        if out is not None:
            _write_lines(out, lines)
    except TextganError as err:
        raise _fail(str(err)) from None
    if out is None:
        sys.stdout.write("".join(line + "\n" for line in lines))


def _newest_run(root: Path) -> Path:
    from textgan.checkpoint import list_checkpoints

    runs = [d for d in root.iterdir() if list_checkpoints(d)] if root.is_dir() else []
    if not runs:
        raise TextganError(
            f"no run found under {root}/: train one first, or pass --run-dir/--checkpoint"
        )
    return max(runs, key=lambda d: list_checkpoints(d)[-1].stat().st_mtime)


def _write_lines(path: Path, lines: list[str]) -> None:
    try:
        atomic_write_text(path, "".join(line + "\n" for line in lines))
    except OSError as err:
        raise TextganError(f"cannot write {path}: {err.strerror or err}") from err
