"""The quality–coverage plane of a temperature sweep: one curve per run through its temperatures,
the real text's floor marked. Both axes are bits per character, lower is better, so the best
trade-offs lie towards the lower left."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textgan.errors import TextganError
from textgan.evaluation.figure import pyplot, write_png
from textgan.rundir.records import COVERAGE, QUALITY, floor

X_LABEL = ("quality: bits/char of the samples under the training text's model\n"
           "(lower: more like real text)")  # fmt: skip
Y_LABEL = ("coverage: bits/char of held-out text under the samples' model\n"
           "(lower: covers more of it)")  # fmt: skip
FLOOR_LABEL = "real held-out text (validation floor)"


def check_plot_target(out: Path) -> None:
    """Fail before a sweep's work, not after it, when the plane could not be drawn into out."""
    pyplot()
    if out.is_dir() or not out.parent.is_dir():
        raise TextganError(f"cannot write {out}: not a file in an existing directory")


def plot_sweep(rows: list[dict[str, Any]], out: Path) -> Path:
    """Draw sweep_runs' rows into out (PNG): per run (or group of seeds, with ±1 sd bars), its
    points in order of temperature, each labelled by its temperature; each distinct floor (one
    per corpus) as a star. Needs matplotlib. Nothing is written on error."""
    if not rows:
        raise TextganError("no sweep results to plot")
    plt = pyplot()
    return write_png(plt, draw_plane(plt, rows), out)


def draw_plane(plt: Any, rows: list[dict[str, Any]]) -> Any:
    """The figure plot_sweep writes."""
    fig, ax = plt.subplots(figsize=(8, 6.5))
    runs = list(dict.fromkeys(row["run"] for row in rows))
    for i, run in enumerate(runs):
        points = sorted((r for r in rows if r["run"] == run), key=lambda r: r["temperature"])
        colour = f"C{i % 10}"
        ax.plot([r[QUALITY] for r in points], [r[COVERAGE] for r in points], marker="o",
                color=colour, label=run)  # fmt: skip
        if any(r.get(f"{QUALITY}_sd") is not None for r in points):  # seeds merged: ±1 sd
            ax.errorbar([r[QUALITY] for r in points], [r[COVERAGE] for r in points],
                        xerr=[r.get(f"{QUALITY}_sd") or 0 for r in points],
                        yerr=[r.get(f"{COVERAGE}_sd") or 0 for r in points], color=colour,
                        linestyle="none", capsize=2, linewidth=0.8)  # fmt: skip
        for r in points:
            ax.annotate(f"{r['temperature']:g}", (r[QUALITY], r[COVERAGE]), color=colour,
                        textcoords="offset points", xytext=(5, 4), fontsize=8)  # fmt: skip
    floors = dict.fromkeys((r[floor(QUALITY)], r[floor(COVERAGE)]) for r in rows
                           if floor(QUALITY) in r and floor(COVERAGE) in r)  # fmt: skip
    for i, (quality, coverage) in enumerate(floors):
        ax.plot(quality, coverage, marker="*", markersize=15, color="black", linestyle="none",
                label=FLOOR_LABEL if i == 0 else None)  # fmt: skip
    ax.set(xlabel=X_LABEL, ylabel=Y_LABEL, title="quality–coverage (points: temperature)")
    ax.grid(alpha=0.3)
    # below the plane, where long run labels cover no point
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center")
    fig.tight_layout(rect=(0, 0.03 * len(labels), 1, 1))
    return fig
