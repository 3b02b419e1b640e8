"""The `textgan` command line: a thin typer layer over the library. The only module that prints."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import json
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from textgan import __version__
from textgan.config import (
    LM_PRESETS,
    PRESETS,
    RUNS_ROOT,
    SAMPLE_DEVICE,
    TrainConfig,
    resolve_config,
)
from textgan.configfile import option_types
from textgan.errors import TextganError
from textgan.runtime.device import keep_freed_memory, resolve_device
from textgan.runtime.fileio import atomic_write_text

app = typer.Typer(
    name="textgan",
    help="Character-level Wasserstein GANs with gradient penalty (WGAN-GP) for text.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # rich markup: the help shows options in panels; a "[" in a help text must be escaped
    rich_markup_mode="rich",
)
corpus_app = typer.Typer(help="Download and prepare corpora.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")
console = Console()
err_console = Console(stderr=True)
DEFAULTS = TrainConfig()
FROM_PRESET = "from --preset"
# The panels of `textgan train --help`, in this order, and the options in each (every option of
# train is in one: _config_options checks).
PANELS: dict[str, tuple[str, ...]] = {
    "Run": ("config_file", "preset", "run_dir", "resume", "resume_if_exists", "seed",
            "checkpoint_every", "keep", "tensorboard"),
    "Model": ("dim", "n_blocks", "seq_len", "critic_norm", "lm"),
    "Objective": ("loss", "constraint", "gp_weight", "clip", "optimizer", "betas", "lr",
                  "lr_critic", "lr_generator", "lr_decay", "g_ema", "g_ema_start"),
    "Schedule": ("iters", "critic_iters", "batch_size", "minutes"),
    "Data": ("heldout", "holdout", "max_lines", "max_vocab"),
    "Evaluation": ("eval_every", "eval_samples", "eval_temperature"),
    "Hardware": ("device", "precision", "conv", "engine", "dist_timeout"),
}  # fmt: skip
PANEL_OF = {name: panel for panel, names in PANELS.items() for name in names}


def _fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(Text(f"error: {message}", style="bold red"), soft_wrap=True)
    return typer.Exit(code)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """The one place where errors become exits: a TextganError (or an OSError the library did
    not expect) is one `error:` line on stderr and exit 2 (or the error's own code, e.g. 130
    after a signal); Ctrl-C outside training's own handling is exit 130."""
    try:
        yield
    except TextganError as err:
        raise _fail(str(err), getattr(err, "exit_code", 2)) from None
    except OSError as err:
        raise _fail(f"{err.filename or 'I/O'}: {err.strerror or err}") from None
    except KeyboardInterrupt:
        raise _fail("interrupted; the newest checkpoint is kept", 130) from None


def command(name: str, app: typer.Typer = app) -> Callable[[Callable[..., None]], Any]:
    """Register a command whose errors go through _user_errors."""

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> None:
            with _user_errors():
                fn(*args, **kwargs)

        return app.command(name)(run)

    return register


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


def _config_options(fn: Callable[..., None]) -> Callable[..., None]:
    """Give fn one --option per TrainConfig field that has a help text, with that help and the
    field's default shown ("from --preset" where a preset sets it); each arrives in fn's
    **options, None when not given (the file's, the preset's or the config's value then).
    Every option goes into its PANELS panel, and the options are ordered by panel."""
    types = option_types()
    preset_keys = {key for table in (PRESETS, LM_PRESETS) for values in table.values()
                   for key in values}  # fmt: skip
    options = []
    for f in dataclasses.fields(TrainConfig):
        if "help" not in f.metadata:
            continue
        shown = f.metadata.get("shown") or (
            FROM_PRESET if f.name in preset_keys else "all" if f.default is None else f.default
        )
        kind = types[f.name]  # a tuple[...]: one option of several values
        flag = [f"--{f.name.replace('_', '-')}"] if kind is bool else []  # no --no-X
        option = typer.Option(*flag, help=escape(f.metadata["help"]), show_default=str(shown))
        annotation = Annotated[kind | None, option]  # type: ignore[valid-type]
        options.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                         default=None, annotation=annotation))  # fmt: skip
    signature = inspect.signature(fn, eval_str=True)
    fixed = [p for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
    arguments = [p for p in fixed if not _is_option(p)]
    named = [p.replace(kind=p.KEYWORD_ONLY) for p in fixed if _is_option(p)] + options
    for parameter in named:
        if parameter.name not in PANEL_OF:
            raise RuntimeError(f"--{parameter.name.replace('_', '-')} is in no help panel")
        typing.get_args(parameter.annotation)[1].rich_help_panel = PANEL_OF[parameter.name]
    order = list(PANEL_OF)
    named.sort(key=lambda p: order.index(p.name))
    fn.__signature__ = signature.replace(parameters=[*arguments, *named])  # type: ignore[attr-defined]
    return fn


def _is_option(parameter: inspect.Parameter) -> bool:
    metadata = typing.get_args(parameter.annotation)[1:]
    return any(isinstance(m, typer.models.OptionInfo) for m in metadata)


@command("train")
@_config_options
def train_command(
    corpus: Annotated[Path, typer.Argument(help="UTF-8 text file, one example per line.")],
    run_dir: Annotated[
        Path | None,
        typer.Option(help=escape("Run directory [default: runs/<corpus>-<time>].")),
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(help="auto (paper on CUDA, else cpu), paper or cpu.", show_default="auto"),
    ] = None,
    heldout: Annotated[
        Path | None,
        typer.Option(help=escape("Held-out text [default: CORPUS's _heldout sibling].")),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --run-dir.")
    ] = False,
    resume_if_exists: Annotated[
        bool,
        typer.Option(
            "--resume-if-exists",
            help="Continue the run in --run-dir if it holds a checkpoint, else start it (implied "
            "when torchrun restarts the workers).",
        ),
    ] = False,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            show_default=False,
            help="Options from a TOML file (option = value) or a run's config.json; flags "
            "override it, and it overrides --preset.",
        ),
    ] = None,
    **options: Any,
) -> None:
    """Train a WGAN-GP (or, with --loss mle, a character language model) on the lines of
    CORPUS, cut or padded to --seq-len characters."""
    # imported here: Ctrl-C while importing is clean
    from textgan.cli.display import TrainingDisplay, done_line
    from textgan.training.loop import train

    _check_run_options(run_dir, resume, resume_if_exists, config_file)
    # rank 0 alone reads a resumed run's configuration (or --config), once it knows whether the
    # run resumes: under torchrun no other machine needs the run dir or the file
    make_config = functools.partial(_train_config, preset, options, run_dir,
                                    config_file=config_file, explicit=resume)  # fmt: skip
    keep_freed_memory()  # this process only trains: its steps' large blocks stay in its heap
    with TrainingDisplay(console) as display:
        result = train(make_config, corpus, run_dir, heldout=heldout, resume=resume,
                       resume_if_exists=resume_if_exists, on_start=display.start,
                       on_step=display.step, on_eval=display.evaluation)  # fmt: skip
    console.print(done_line(result, result.config))


def _check_run_options(
    run_dir: Path | None, resume: bool, resume_if_exists: bool, config_file: Path | None
) -> None:
    """The refusals that need no file: the same on every process."""
    if resume and resume_if_exists:
        raise TextganError("--resume and --resume-if-exists: give one")
    if resume and config_file is not None:
        raise TextganError(
            "--config cannot be used with --resume: a resumed run keeps its own "
            "configuration (give the options it may change as flags)"
        )
    if (resume or resume_if_exists) and run_dir is None:
        flag = "--resume" if resume else "--resume-if-exists"
        raise TextganError(f"{flag} needs --run-dir (the run to continue)")


def _train_config(
    preset: str | None,
    options: dict[str, Any],
    run_dir: Path | None,
    resume: bool,
    config_file: Path | None = None,
    *,
    explicit: bool = True,
) -> TrainConfig:
    """The run's configuration: a preset's values, then the --config file's, then the flags'
    (the file's values that a flag makes inapplicable dropped); a resumed run's own, with the
    flags that may change on resume (resumed by --resume-if-exists, not explicitly: the file's
    options count as flags)."""
    from textgan.configfile import PRESET_KEY, merge_options, read_options_file
    from textgan.training.state import resume_config

    from_file = read_options_file(config_file) if config_file is not None else {}
    if resume:
        if run_dir is None or (config_file is not None and explicit):
            _check_run_options(run_dir, True, False, config_file)
        from_file.pop(PRESET_KEY, None)
        given = {k: v for k, v in options.items() if v is not None}
        return resume_config(run_dir, **merge_options(from_file, given))
    file_preset = from_file.pop(PRESET_KEY, None)
    preset = preset or file_preset or "auto"
    given = {k: v for k, v in options.items() if v is not None}
    merged = merge_options(from_file, given)
    device_type = resolve_device(merged.get("device", DEFAULTS.device)).type
    return resolve_config(preset, device_type, **merged)


RunDirOption = Annotated[
    Path | None,
    typer.Option(help=escape(f"Run to use [default: the newest under {RUNS_ROOT}/].")),
]
CheckpointOption = Annotated[Path | None, typer.Option(help="Checkpoint file to use.")]
RawOption = Annotated[
    bool, typer.Option(help="The generator itself, not the average of its weights (--g-ema).")
]
DeviceOption = Annotated[
    str, typer.Option(help="Where to generate: cpu (the same samples everywhere), auto or cuda.")
]


@command("sample")
def sample_command(
    n: Annotated[int, typer.Option("-n", "--num", help="Number of lines.")] = 20,
    run_dir: RunDirOption = None,
    checkpoint: CheckpointOption = None,
    seed: Annotated[int | None, typer.Option(help="Seed for repeatable samples.")] = None,
    temperature: Annotated[
        float | None,
        typer.Option(
            help="0 = argmax (greedy); > 0 draws from the softmax.",
            show_default="by run kind: 1 for an mle run, 0 for a GAN",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the lines to this file.")] = None,
    device: DeviceOption = SAMPLE_DEVICE,
    raw: RawOption = False,
) -> None:
    """Print generated lines (one per sample, padding stripped): a GAN's by argmax, a language
    model's drawn character by character, unless --temperature says otherwise."""
    from textgan.evaluation.sampling import sample

    sample_device = resolve_device(device)
    source = checkpoint or run_dir or _newest_run(RUNS_ROOT)
    lines = sample(source, n, seed, temperature, sample_device, raw=raw)
    if out is not None:
        _write_lines(out, lines)
    else:
        sys.stdout.write("".join(line + "\n" for line in lines))


@command("eval")
def eval_command(
    run_dir: RunDirOption = None,
    checkpoint: CheckpointOption = None,
    corpus: Annotated[
        Path | None, typer.Option(help=escape("Training text [default: the run's]."))
    ] = None,
    heldout: Annotated[
        Path | None, typer.Option(help=escape("Held-out text [default: the run's]."))
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "-n", "--num", help=escape("Samples to score [default: the run's --eval-samples].")
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the samples.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    device: DeviceOption = SAMPLE_DEVICE,
    raw: RawOption = False,
    samples: Annotated[
        Path | None,
        typer.Option(help="Score this UTF-8 file, one sample per line, against --corpus instead."),
    ] = None,
    seq_len: Annotated[
        int | None,
        typer.Option(help=f"Characters per line of --samples [default: {DEFAULTS.seq_len}]."),
    ] = None,
) -> None:
    """Score a checkpoint (or, with --samples, a text file): js1..js4, quality and coverage,
    word measures, and the validation floor."""
    from textgan.cli.display import scores_table
    from textgan.evaluation.evaluator import evaluate_checkpoint
    from textgan.rundir.checkpoint import latest_checkpoint, load_checkpoint

    if samples is not None:
        given = {"--run-dir": run_dir, "--checkpoint": checkpoint, "-n": n}
        _eval_samples(samples, corpus, heldout, seq_len, as_json, given)
        return
    if seq_len is not None:
        raise TextganError("--seq-len applies to --samples only: a run is scored at its own")
    eval_device = resolve_device(device)
    path = checkpoint or latest_checkpoint(run_dir or _newest_run(RUNS_ROOT))
    scores = evaluate_checkpoint(load_checkpoint(path), corpus, heldout, n, seed, eval_device,
                                 raw=raw)  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps({"checkpoint": str(path), **scores}) + "\n")
    else:
        console.print(scores_table(scores, f"{path}: {scores.pop('samples')} samples"))


def _eval_samples(
    samples: Path,
    corpus: Path | None,
    heldout: Path | None,
    seq_len: int | None,
    as_json: bool,
    given: dict[str, Any],
) -> None:
    """`eval --samples`: the file scored against --corpus; options about a run are refused."""
    from textgan.cli.display import scores_table
    from textgan.evaluation.sample_file import evaluate_sample_file

    for flag, value in given.items():
        if value is not None:
            raise TextganError(
                f"{flag} does not apply to --samples, which scores a file, not a run"
            )
    if corpus is None:
        raise TextganError("--samples needs --corpus, the text to score the samples against")
    scores = evaluate_sample_file(samples, corpus, heldout, seq_len)
    if as_json:
        sys.stdout.write(json.dumps({"file": str(samples), **scores}) + "\n")
    else:
        console.print(scores_table(scores, f"{samples}: {scores.pop('samples')} samples"))


@command("plot")
def plot_command(
    runs: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="RUN",
            show_default=False,
            help=escape(f"Run directories [default: the newest under {RUNS_ROOT}/]."),
        ),
    ] = None,
    run_dir: Annotated[Path | None, typer.Option(help="One more run to draw.")] = None,
    out: Annotated[Path, typer.Option(help="PNG file to write.")] = Path("curves.png"),
    x: Annotated[
        str, typer.Option("--x", help="iterations, or minutes of training (the logged seconds).")
    ] = "iterations",
    group_seeds: Annotated[
        bool,
        typer.Option(
            "--group-seeds",
            help="One colour per group of runs that differ only in --seed (or in options "
            "--resume may change), as compare --group-seeds merges them.",
        ),
    ] = False,
) -> None:
    """Draw the js1..js4, loss and critic-gap curves of one run or several (one colour each,
    named by the options that differ); needs: pip install "textgan\\[plot]"."""
    from textgan.evaluation.plot import plot_runs

    chosen = [*(runs or []), *([run_dir] if run_dir is not None else [])]
    written = plot_runs(chosen or [_newest_run(RUNS_ROOT)], out, x, group_seeds)
    console.print(f"wrote {written}")


@command("billion-words", app=corpus_app)
def billion_words_command(
    source: Annotated[
        str | None,
        typer.Option(
            help=escape("URL or local path of the release tarball [default: statmt.org].")
        ),
    ] = None,
    out_dir: Annotated[Path, typer.Option(help="Where the corpus files go.")] = Path("corpora"),
    max_lines: Annotated[
        int | None, typer.Option(help="Stream only this many training lines (quick start).")
    ] = None,
) -> None:
    """Write corpora/billion_words.txt and billion_words_heldout.txt from the official release."""
    from textgan.cli.display import ImportDisplay
    from textgan.data.billion_words import DEFAULT_SOURCE, import_billion_words

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with ImportDisplay(console) as display:
            result = import_billion_words(
                source or DEFAULT_SOURCE, out_dir, max_lines, display.update
            )
    except OSError as err:
        raise TextganError(f"cannot write to {out_dir}: {err.strerror or err}") from err
    console.print(f"{result.train_path}: {result.train_lines:,} training lines")
    console.print(f"{result.heldout_path}: {result.heldout_lines:,} held-out lines")
    if result.heldout_from_stream:
        console.print("the held-out shards were not reached: the held-out lines were set aside "
                      "from the stream and are not in the training file")  # fmt: skip


@command("compare")
def compare_command(
    runs: Annotated[list[Path], typer.Argument(metavar="RUN", help="Run directories to compare.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list of rows.")] = False,
    group_seeds: Annotated[
        bool,
        typer.Option(
            "--group-seeds",
            help="Merge runs that differ only in --seed (or in options --resume may change): "
            "mean ± sample sd.",
        ),
    ] = False,
) -> None:
    """Compare runs: the options that differ, iterations, last and best js1..js4, word scores."""
    from textgan.cli.display import compare_table
    from textgan.evaluation.compare import compare_runs

    rows = compare_runs(runs, group_seeds)
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
    else:
        console.print(compare_table(rows, group_seeds))


@command("runs")
def runs_command(
    root: Annotated[
        Path,
        typer.Argument(metavar="DIR", help="Folder of run directories.", show_default=True),
    ] = RUNS_ROOT,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list of runs.")] = False,
) -> None:
    """List the runs in DIR, newest first: corpus, options that differ from the defaults,
    iterations done / planned, minutes, last and best js4, and whether each finished, stopped
    (by --minutes, a signal or a NaN) or is incomplete."""
    from textgan.cli.display import runs_table
    from textgan.evaluation.runs import list_runs

    rows, notes = list_runs(root)
    for note in notes:
        err_console.print(Text(f"note: {note}"), soft_wrap=True)
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
    elif rows:
        console.print(runs_table(rows, root))
    else:
        console.print(f"no runs in {root}/")


def _newest_run(root: Path) -> Path:
    from textgan.rundir.checkpoint import list_checkpoints

    runs = [d for d in root.iterdir() if list_checkpoints(d)] if root.is_dir() else []
    if not runs:
        raise TextganError(f"no run found under {root}/: train one, or pass --run-dir/--checkpoint")
    return max(runs, key=lambda d: list_checkpoints(d)[-1].stat().st_mtime)


def _write_lines(path: Path, lines: list[str]) -> None:
    try:
        atomic_write_text(path, "".join(line + "\n" for line in lines))
    except OSError as err:
        raise TextganError(f"cannot write {path}: {err.strerror or err}") from err
