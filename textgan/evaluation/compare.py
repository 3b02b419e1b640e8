"""Several runs side by side: the options that tell them apart, and their last and best scores."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from textgan.config import LEARNING_RATES, RESUMABLE_OPTIONS
from textgan.errors import TextganError
from textgan.rundir import records, runlog

# Options ignored when --group-seeds merges runs: the ones a run may change on resume (they match
# state.RESUMABLE_OPTIONS, imported so the two lists cannot drift apart), how long and on what
# engine it ran, and the seed whose spread the merged row measures.
# Learning rates, their schedule and the generator's average may change on resume too, but they
# are what experiments compare: they still separate groups.
GROUPING_IGNORED = (
    *(o for o in RESUMABLE_OPTIONS
      if o not in (*LEARNING_RATES, "lr_decay", "g_ema", "g_ema_start")),
    "engine", "minutes", "seed",
)  # fmt: skip
LAST_SCORES = (records.QUALITY, records.COVERAGE, records.WORD_VALIDITY, *records.IN_TEST,
               records.DISTINCT, records.COPIED, records.CRITIC_GAP)  # fmt: skip
# the scores whose last and best (lowest) values both count: the js-n, and a language model's
# held-out bits per character (its best before it overfits, its last after)
LAST_AND_BEST = (*records.JS, records.HELDOUT_BPC)
FIGURES = (
    "iterations", "minutes", *(f"{key}_last" for key in LAST_AND_BEST),
    *(f"{key}_best" for key in LAST_AND_BEST), *LAST_SCORES,
)  # fmt: skip


def run_label_options(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per run, the options whose values differ between the runs, in config field order.

    A key some configs lack counts as None there (so it differs from any value the others have);
    `corpus` is an option like any other: left out when every run used the same one.
    """
    keys = list(dict.fromkeys(key for config in configs for key in config))
    differing = [key for key in keys if len({_hashable(c.get(key)) for c in configs}) > 1]
    return [{key: config.get(key) for key in differing} for config in configs]


def run_labels(configs: list[dict[str, Any]], names: list[str] | None = None) -> list[str]:
    """A legend label per run, e.g. `loss=gan constraint=none seed=2`.

    An option a run has no value for (None: `--clip` of a run without clipping) is left out of
    its label; runs that differ still get different labels, since one of them has a value there.
    A run that no option tells apart (one run, or runs with equal configs) is labelled by its
    entry in `names` (the caller passes the run directories' names), else `run <i>` from 1.
    """
    fallback = names if names is not None else [f"run {i}" for i in range(1, len(configs) + 1)]
    if len(fallback) != len(configs):
        raise TextganError(f"{len(configs)} configs but {len(fallback)} names to label them")
    return [
        " ".join(f"{k}={option_text(v)}" for k, v in options.items() if v is not None) or name
        for options, name in zip(run_label_options(configs), fallback, strict=True)
    ]


def labels_and_groups(
    configs: list[dict[str, Any]], names: list[str], group_seeds: bool
) -> tuple[list[str], list[int]]:
    """Per run, its legend label and its group (numbered in order of first appearance): a lone
    run is labelled by its name; several, by run_labels; with group_seeds, the runs that
    seed_groups puts together share a number and a label, the options that differ between the
    groups (so never the seed) and `(n runs)`."""
    if len(names) == 1:
        return list(names), [0]
    if not group_seeds:
        return run_labels(configs, names), list(range(len(names)))
    groups = seed_groups(configs)
    kept = [{k: v for k, v in configs[g[0]].items() if k not in GROUPING_IGNORED} for g in groups]
    by_group = run_labels(kept, [names[g[0]] for g in groups]) if len(groups) > 1 else [""]
    labels, group_of = [""] * len(names), [0] * len(names)
    for number, (members, label) in enumerate(zip(groups, by_group, strict=True)):
        count = f"({len(members)} run{'s' if len(members) > 1 else ''})"
        for i in members:
            labels[i], group_of[i] = f"{label} {count}".strip(), number
    return labels, group_of


def option_text(value: Any) -> str:
    """An option's value as labels and tables show it: lists as `a,b` (no spaces)."""
    if isinstance(value, list | tuple):
        return ",".join(option_text(item) for item in value)
    return str(value)


def compare_runs(run_dirs: list[Path], group_seeds: bool = False) -> list[dict[str, Any]]:
    """One row per run: `runs`, `options` (those that differ), `n` and the FIGURES.

    With group_seeds, runs whose configs are equal but for GROUPING_IGNORED make one row whose
    figures are means over its runs (None values skipped), each with `<figure>_sd`, the sample
    standard deviation (None below two values); its `options` leave out `seed`, and an option
    the merged runs disagree on (only a GROUPING_IGNORED one can) is the list of their values.
    """
    configs = [runlog.read_config(Path(run_dir)) for run_dir in run_dirs]
    figures = [run_figures(Path(run_dir)) for run_dir in run_dirs]
    options = run_label_options(configs)
    if not group_seeds:
        return [
            {"runs": [str(run_dir)], "options": opts, "n": 1, **figs}
            for run_dir, opts, figs in zip(run_dirs, options, figures, strict=True)
        ]
    rows = []
    for group in seed_groups(configs):
        runs = [str(run_dirs[i]) for i in group]
        rows.append(_merged_row(runs, [options[i] for i in group], [figures[i] for i in group]))
    return rows


def run_figures(run_dir: Path) -> dict[str, Any]:
    """The FIGURES of one run from its metrics.jsonl: last values, and the best (lowest) of
    LAST_AND_BEST (None where the run never logged the score)."""
    evaluations = runlog.read_metrics(run_dir)
    if not evaluations:
        raise TextganError(f"{run_dir / runlog.METRICS} has no evaluations yet")
    last = evaluations[-1]
    seconds = last.get(records.SECONDS)
    figures: dict[str, Any] = {
        "iterations": last.get(records.ITERATION),
        "minutes": None if seconds is None else seconds / 60,
    }
    for key in LAST_AND_BEST:
        figures[f"{key}_last"] = last.get(key)
    for key in LAST_AND_BEST:
        values = [r[key] for r in evaluations if r.get(key) is not None]
        figures[f"{key}_best"] = min(values) if values else None
    for key in LAST_SCORES:
        figures[key] = last.get(key)
    return figures


def seed_groups(configs: list[dict[str, Any]]) -> list[list[int]]:
    """Indices of the runs that differ only in GROUPING_IGNORED, in the order first seen."""
    keys: list[dict[str, Any]] = []
    groups: list[list[int]] = []
    for i, config in enumerate(configs):
        key = {k: v for k, v in config.items() if k not in GROUPING_IGNORED}
        if key in keys:
            groups[keys.index(key)].append(i)
        else:
            keys.append(key)
            groups.append([i])
    return groups


def _merged_row(
    runs: list[str], options: list[dict[str, Any]], figures: list[dict[str, Any]]
) -> dict[str, Any]:
    merged_options = {}
    for key in options[0]:
        if key != "seed":
            distinct = {_hashable(o[key]): o[key] for o in options}
            merged_options[key] = options[0][key] if len(distinct) == 1 else [*distinct.values()]
    row: dict[str, Any] = {"runs": runs, "options": merged_options, "n": len(runs)}
    for key in FIGURES:
        values = [f[key] for f in figures if f[key] is not None]
        row[key] = statistics.mean(values) if values else None
        row[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else None
    return row


def _hashable(value: Any) -> Any:
    """A config value that can go into a set (JSON lists, such as betas, become tuples)."""
    if isinstance(value, list):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value
