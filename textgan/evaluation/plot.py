"""Training curves of one run or several in one PNG: js1..js4 against each run's validation
floor, quality and coverage (against theirs), the losses, and the critic's estimate on training
and held-out text where logged."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textgan.errors import TextganError
from textgan.evaluation.compare import labels_and_groups
from textgan.evaluation.figure import pyplot, write_png
from textgan.rundir import records, runlog

X_LABELS = {"iterations": "iteration", "minutes": "minutes of training"}
X_CHOICES = tuple(X_LABELS)
JS = records.JS
# (title, keys): a panel is drawn when some run logged its first key; a second key is dotted; a
# run's floor of the key (floor.json), where it has one, is dashed
LANGUAGE_PANELS = (
    ("quality, bits/char (dashed: validation floor)", (records.QUALITY,)),
    ("coverage, bits/char (dashed: validation floor)", (records.COVERAGE,)),
)
LOSS_PANELS = (
    ("critic loss", (records.CRITIC_LOSS,)),
    ("generator loss", (records.GENERATOR_LOSS,)),
    ("Wasserstein estimate E[D(real)] − E[D(fake)]", (records.WASSERSTEIN,)),
    ("gradient penalty (unweighted)", (records.GP,)),
    ("critic estimate: training (solid), held-out (dotted)",
     (records.CRITIC_TRAIN, records.CRITIC_HELDOUT)),
    ("critic gap: training − held-out (> 0: overfitting)", (records.CRITIC_GAP,)),
    ("bits/char: held-out (solid), training batch (dotted)",
     (records.HELDOUT_BPC, records.TRAIN_BPC)),
)  # fmt: skip
COLUMNS = 4  # panels per row


@dataclass(frozen=True)
class RunCurves:
    """What one run contributes to the figure."""

    label: str
    records: list[dict[str, Any]]  # metrics.jsonl
    floor: dict[str, float]  # floor.json (empty without one)
    group: int = 0  # runs of one group share a colour and a legend entry


def plot_runs(
    run_dirs: list[Path], out: Path, x: str = "iterations", group_seeds: bool = False
) -> Path:
    """Draw the curves of the runs' metrics.jsonl into out (PNG), one colour per run, labelled
    by the options that differ between the runs (compare.run_labels); x: `iterations`, or
    `minutes` of training (the logged seconds); group_seeds: one colour per group of runs that
    differ only in --seed (and what a resume may change), as `compare --group-seeds` merges
    them. Needs matplotlib. Nothing is written on error."""
    if x not in X_CHOICES:
        raise TextganError(f"--x must be one of {', '.join(X_CHOICES)}, got {x!r}")
    if not run_dirs:
        raise TextganError("no run to plot")
    runs = read_runs(run_dirs, group_seeds)
    plt = pyplot()
    fig = _draw(plt, runs, x)
    fig.suptitle(str(run_dirs[0]) if len(run_dirs) == 1 else f"{len(run_dirs)} runs")
    return write_png(plt, fig, out)


def read_runs(run_dirs: list[Path], group_seeds: bool = False) -> list[RunCurves]:
    """Each run's evaluations, floor, legend label (a lone run: its directory's name) and group.

    group_seeds: runs that differ only in compare.GROUPING_IGNORED (--seed, ...) form a group,
    labelled by the options that differ between the groups and `(n runs)`."""
    for run_dir in run_dirs:
        if not run_dir.is_dir():
            raise TextganError(f"run {run_dir} does not exist or is not a directory")
    logs = [runlog.read_metrics(run_dir) for run_dir in run_dirs]
    for run_dir, evaluations in zip(run_dirs, logs, strict=True):
        if not evaluations:
            raise TextganError(f"{run_dir / runlog.METRICS} has no evaluations yet")
    names = [run_dir.resolve().name for run_dir in run_dirs]
    configs = [runlog.read_config(d) for d in run_dirs] if len(run_dirs) > 1 else [{}]
    labels, group_of = labels_and_groups(configs, names, group_seeds)
    return [
        RunCurves(labels[i], logs[i], runlog.read_floor(run_dirs[i]), group_of[i])
        for i in range(len(run_dirs))
    ]


def _draw(plt: Any, runs: list[RunCurves], x: str) -> Any:
    """The figure: a row of js1..js4 panels, then the loss panels that some run logged."""
    from matplotlib.lines import Line2D

    losses = [(t, k) for t, k in (*LANGUAGE_PANELS, *LOSS_PANELS)
              if any(k[0] in r for run in runs for r in run.records)]  # fmt: skip
    rows = 1 + math.ceil(len(losses) / COLUMNS)
    fig, axes = plt.subplots(rows, COLUMNS, figsize=(4.2 * COLUMNS, 3.4 * rows + 0.8),
                             squeeze=False)  # fmt: skip
    legend = {run.group: run.label for run in runs}  # groups are numbered 0, 1, … in order
    palette = _colours(plt, len(legend))
    colours = [palette[run.group] for run in runs]
    for ax, key in zip(axes[0], JS, strict=True):
        for run, colour in zip(runs, colours, strict=True):
            ax.plot(*_curve(run.records, x, key), color=colour)
            if any(records.raw(key) in r for r in run.records):  # the generator beside its average
                ax.plot(*_curve(run.records, x, records.raw(key)), color=colour, linestyle=":")
            _floor_line(ax, run, key, colour)
        raw = any(records.raw(key) in r for run in runs for r in run.records)
        note = ",\ndotted: the generator without its average" if raw else ""
        ax.set(title=f"{key}\n(dashed: validation floor{note})", xlabel=X_LABELS[x],
               ylim=(0, 1))  # fmt: skip
    panels = list(axes[1:].flat)
    for ax, (title, keys) in zip(panels, losses, strict=False):
        for run, colour in zip(runs, colours, strict=True):
            for key, style in zip(keys, ("-", ":"), strict=False):
                ax.plot(*_curve(run.records, x, key), color=colour, linestyle=style)
            _floor_line(ax, run, keys[0], colour)
        if keys == (records.CRITIC_GAP,):
            ax.axhline(0, color="grey", linewidth=0.8)  # above it the critic overfits
        ax.set(title=title, xlabel=X_LABELS[x])
    for ax in panels[len(losses) :]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=c) for c in palette]
    columns = legend_columns(list(legend.values()), fig.get_figwidth())
    fig.legend(handles, list(legend.values()), loc="lower center", ncol=columns)
    fig.tight_layout(rect=(0, 0.03 + 0.03 * math.ceil(len(legend) / columns), 1, 0.96))
    return fig


def _floor_line(ax: Any, run: RunCurves, key: str, colour: Any) -> None:
    """The run's validation floor of key, dashed, where its floor.json has one."""
    if records.floor(key) in run.floor:
        ax.axhline(run.floor[records.floor(key)], color=colour, linestyle="--", linewidth=1)


def legend_columns(labels: list[str], width: float) -> int:
    """How many legend columns of these labels fit across a figure `width` inches wide (about
    12 characters an inch at the legend's size, plus a colour swatch a label): 1 to 3."""
    per_column = max(len(label) for label in labels) + 8
    return max(1, min(3, len(labels), int(width * 12 // per_column)))


def _curve(evaluations: list[dict[str, Any]], x: str, key: str) -> tuple[list[float], list[float]]:
    """(x, y) of key over a run's evaluations; a missing or null value is a gap (nan)."""

    def value(record: dict[str, Any], name: str) -> float:
        return math.nan if record.get(name) is None else record[name]

    if x == "iterations":
        xs = [value(r, records.ITERATION) for r in evaluations]
    else:
        xs = [value(r, records.SECONDS) / 60 for r in evaluations]
    return xs, [value(r, key) for r in evaluations]


def _colours(plt: Any, count: int) -> list[Any]:
    """A distinct colour per run: the default cycle's ten, then evenly along a colour map."""
    if count <= 10:
        return [f"C{i}" for i in range(count)]
    return [plt.get_cmap("turbo")(i / (count - 1)) for i in range(count)]
