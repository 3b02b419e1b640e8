"""`textgan sweep`: runs sampled at several temperatures and scored, as a table, JSON or the
quality–coverage plane (registered on the app by textgan.cli's __init__)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from textgan.cli.app import DeviceOption, command, console
from textgan.config import PAPER_EVAL_LINES, SAMPLE_DEVICE, SWEEP_TEMPERATURES
from textgan.runtime.device import resolve_device

COLUMNS = {"js1": "js1", "js2": "js2", "js3": "js3", "js4": "js4", "quality": "quality",
           "coverage": "coverage", "word_validity": "words ok", "distinct": "distinct",
           "copied": "copied"}  # fmt: skip


@command("sweep")
def sweep_command(
    runs: Annotated[
        list[Path], typer.Argument(metavar="RUN", help="Run directories (or checkpoint files).")
    ],
    temperatures: Annotated[
        str, typer.Option(help="Comma-separated temperatures; 0 = argmax.")
    ] = ",".join(f"{t:g}" for t in SWEEP_TEMPERATURES),
    n: Annotated[
        int, typer.Option("-n", "--num", help="Samples per run and temperature.")
    ] = PAPER_EVAL_LINES,
    seed: Annotated[
        int, typer.Option(help="Seed of the samples (the same at every temperature).")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list of rows.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(help='Draw the quality–coverage plane into this PNG; needs "textgan[plot]".'),
    ] = None,
    device: DeviceOption = SAMPLE_DEVICE,
    group_seeds: Annotated[
        bool,
        typer.Option(help="Merge runs that differ only in --seed (as compare does): mean ± sd."),
    ] = False,
) -> None:
    """Sample each run at each temperature and score the samples as an evaluation does (js1..js4,
    quality, coverage, words), against the run's own corpus: one table, or --json rows;
    --group-seeds: one row per group of seeds and temperature, mean ± sd."""
    from textgan.evaluation.sweep import parse_temperatures, sweep_runs
    from textgan.evaluation.sweep_plot import check_plot_target, plot_sweep

    values = parse_temperatures(temperatures)
    if out is not None:
        check_plot_target(out)
    rows = sweep_runs(runs, values, n, seed, resolve_device(device), group_seeds)
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
    else:
        console.print(sweep_table(rows, n))
    if out is not None:
        written = plot_sweep(rows, out)
        if not as_json:
            console.print(f"wrote {written}")


def sweep_table(rows: list[dict[str, Any]], n: int) -> Table:
    """A row per run and temperature, each run's validation floor first (dim)."""
    table = Table(title=f"sweep: {n} samples per run and temperature (quality, coverage: bits "
                  "per character, lower is better)", title_justify="left",
                  box=box.SIMPLE_HEAD)  # fmt: skip
    for title in ("run", "temperature", *COLUMNS.values()):
        table.add_column(title, justify="left" if title == "run" else "right")
    shown_floor = None
    for row in rows:
        if row["run"] != shown_floor:
            cells = [_cell(row.get(f"floor_{key}")) for key in COLUMNS]
            table.add_row(row["run"], "floor", *cells, style="dim")
            shown_floor = row["run"]
        table.add_row("", f"{row['temperature']:g}",
                      *(_cell(row.get(key), row.get(f"{key}_sd")) for key in COLUMNS))  # fmt: skip
    return table


def _cell(value: Any, sd: Any = None) -> str:
    """A figure, ±its standard deviation over seeds where merged."""
    text = "" if value is None else f"{value:.4f}"
    return text if sd is None else f"{text}±{sd:.4f}"
