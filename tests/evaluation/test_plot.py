"""`textgan plot` over one run or several: the legend's labels, the panels drawn, PNGs, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_one_line_error, tree_hash
from typer.testing import CliRunner

from textgan.cli.app import app
from textgan.config import TrainConfig
from textgan.evaluation.plot import legend_columns, read_runs

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def invoke(*args: Any):
    return runner.invoke(app, [str(a) for a in args])


def record(iteration: int, **extra: float) -> dict[str, Any]:
    """One metrics.jsonl line, 30 s of training per 50 iterations."""
    return {"iteration": iteration, "seconds": 0.6 * iteration, "critic_loss": -1.0,
            "generator_loss": 0.5, "wasserstein": 1.2, "js1": 0.2, "js2": 0.4, "js3": 0.6,
            "js4": 0.8, **extra}  # fmt: skip


def make_run(root: Path, name: str, gap: bool = True, **options: Any) -> Path:
    """A run dir written by hand: config.json, floor.json, two evaluations (with a critic gap
    unless gap=False)."""
    run = root / name
    run.mkdir(parents=True)
    config = {"corpus": "corpora/tiny.txt", **TrainConfig(**{"dim": 8, **options}).to_dict()}
    (run / "config.json").write_text(json.dumps(config))
    (run / "floor.json").write_text(json.dumps({f"floor_js{n}": 0.1 * n for n in range(1, 5)}))
    critic = {"critic_train": 1.0, "critic_heldout": 0.75, "critic_gap": 0.25} if gap else {}
    records = [record(50, **critic), record(100, **critic)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run


def test_legend_labels_of_one_two_and_three_runs(tmp_path: Path) -> None:
    a = make_run(tmp_path, "a", seed=1)
    b = make_run(tmp_path, "b", seed=2)
    c = make_run(tmp_path, "c", seed=2, loss="gan", constraint="none")
    d = make_run(tmp_path, "d", seed=1, lr=3e-4)
    assert [run.label for run in read_runs([a])] == ["a"]
    assert [run.label for run in read_runs([a, b])] == ["seed=1", "seed=2"]
    assert [run.label for run in read_runs([a, c, d])] == [
        "lr=0.0001 loss=wasserstein constraint=gp gp_weight=10.0 seed=1",
        "lr=0.0001 loss=gan constraint=none seed=2",
        "lr=0.0003 loss=wasserstein constraint=gp gp_weight=10.0 seed=1",
    ]
    twin = make_run(tmp_path / "other", "a", seed=1)  # equal configs: named by their dirs
    assert [run.label for run in read_runs([a, twin])] == ["a", "a"]
    runs = read_runs([a, b])
    assert runs[0].floor["floor_js4"] == pytest.approx(0.4) and len(runs[1].records) == 2


def test_seeds_grouped_share_a_colour_and_a_label(tmp_path: Path) -> None:
    a, b = make_run(tmp_path, "a", seed=1), make_run(tmp_path, "b", seed=2, iters=300)
    c = make_run(tmp_path, "c", seed=1, loss="gan", constraint="none")
    runs = read_runs([a, c, b], group_seeds=True)  # b differs from a in seed and --iters only
    assert [run.group for run in runs] == [0, 1, 0]
    both = "loss=wasserstein constraint=gp gp_weight=10.0 (2 runs)"
    assert [run.label for run in runs] == [both, "loss=gan constraint=none (1 run)", both]
    assert [run.label for run in read_runs([a, b], group_seeds=True)] == ["(2 runs)"] * 2
    assert [run.label for run in read_runs([a], group_seeds=True)] == ["a"]
    assert [run.group for run in read_runs([a, c, b])] == [0, 1, 2]  # ungrouped: a colour each
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from textgan.evaluation.plot import _draw

    fig = _draw(plt, runs, "iterations")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    lines = fig.axes[0].get_lines()  # js1: a curve and a floor per run
    plt.close(fig)
    assert legend == [both, "loss=gan constraint=none (1 run)"]
    colours = [line.get_color() for line in lines[::2]]
    assert colours[0] == colours[2] != colours[1]
    out = tmp_path / "grouped.png"
    result = invoke("plot", a, b, c, "--group-seeds", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == PNG


def test_the_legend_takes_as_many_columns_as_fit() -> None:
    short, long = ["seed=1"] * 7, ["x" * 100, "y" * 95, "z" * 90]
    assert legend_columns(short, 16.8) == 3 and legend_columns(short[:2], 16.8) == 2
    assert legend_columns(long, 16.8) == 1 and legend_columns(["a" * 40] * 4, 16.8) == 3
    assert legend_columns(["a" * 60] * 4, 16.8) == 2


def test_the_critic_panels_appear_when_a_run_logged_them(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from textgan.evaluation.plot import _draw

    def titles(*runs: Path) -> list[str]:
        fig = _draw(plt, read_runs(list(runs)), "minutes")
        shown = [ax.get_title() for ax in fig.axes if ax.get_visible()]
        plt.close(fig)
        return shown

    old, new = make_run(tmp_path, "old", gap=False), make_run(tmp_path, "new", seed=3)
    without = titles(old)
    assert [t.split()[0] for t in without] == ["js1", "js2", "js3", "js4", "critic",
                                               "generator", "Wasserstein"]  # fmt: skip
    assert not any("gap" in t for t in without)
    assert sum("critic gap" in t for t in titles(old, new)) == 1


def test_plot_writes_a_png_for_several_runs_and_by_minutes(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    a, b = make_run(tmp_path, "a", seed=1), make_run(tmp_path, "b", seed=2, gap=False)
    c = make_run(tmp_path, "c", seed=3)
    for args, name in (([a, b, c], "three.png"), ([a, "--run-dir", b, "--x", "minutes"], "m.png")):
        out = tmp_path / name
        result = invoke("plot", *args, "--out", out)
        assert result.exit_code == 0, result.output
        assert out.read_bytes()[:8] == PNG and f"wrote {out}" in " ".join(result.stdout.split())


def test_plot_without_a_run_draws_the_newest(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    (make_run(tmp_path / "runs", "only") / "ckpt-0000100.pt").write_bytes(b"")
    assert invoke("plot").exit_code == 0 and (tmp_path / "curves.png").read_bytes()[:8] == PNG


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["plot", "missing", "a"], ["run missing does not exist"]),
        (["plot", "a", "afile"], ["afile", "not a directory"]),
        (["plot", "a", "empty"], ["no metrics.jsonl"]),
        (["plot", "a", "noconfig"], ["noconfig is not a run directory", "config.json"]),
        (["plot", "a", "b", "--x", "hours"], ["--x must be one of iterations, minutes", "hours"]),
        (["plot", "a", "b", "--out", "nodir/c.png"], ["cannot write nodir/c.png"]),
        (["plot", "a", "--out", "a"], ["cannot write a"]),
        (["plot"], ["no run found"]),
    ],
)
def test_bad_plots_are_one_line_errors_that_write_nothing(
    args: list[str], fragments: list[str], tmp_path: Path, monkeypatch
) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    make_run(tmp_path, "a", seed=1)
    make_run(tmp_path, "b", seed=2)
    (tmp_path / "afile").write_text("not a run\n")
    (tmp_path / "empty").mkdir()
    make_run(tmp_path, "noconfig").joinpath("config.json").unlink()
    before = tree_hash(tmp_path)
    assert_one_line_error(invoke(*args), *fragments)
    assert tree_hash(tmp_path) == before


def test_quality_and_coverage_are_drawn_against_their_floor(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from textgan.evaluation.plot import _draw

    run = make_run(tmp_path, "bits")
    records = [record(50, quality=4.0, coverage=5.0), record(100, quality=3.0, coverage=4.5)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    floor = {**json.loads((run / "floor.json").read_text()), "floor_quality": 2.25}
    (run / "floor.json").write_text(json.dumps(floor))
    fig = _draw(plt, read_runs([run]), "iterations")
    panels = {ax.get_title().split(",")[0]: ax for ax in fig.axes if ax.get_visible()}
    quality = [list(line.get_ydata()) for line in panels["quality"].get_lines()]
    coverage = [list(line.get_ydata()) for line in panels["coverage"].get_lines()]
    plt.close(fig)
    assert quality == [[4.0, 3.0], [2.25, 2.25]]  # the curve, then its floor
    assert coverage == [[5.0, 4.5]]  # this floor.json has no floor_coverage


def test_a_language_models_bits_per_character_get_a_panel(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from textgan.evaluation.plot import _draw

    gan, lm = make_run(tmp_path, "gan"), make_run(tmp_path, "lm", loss="mle")
    records = [{"iteration": i, "seconds": 0.6 * i, "js1": 0.2, "js2": 0.4, "js3": 0.6, "js4": 0.8,
                "train_bpc": t, "heldout_bpc": h}
               for i, t, h in ((50, 3.5, 3.0), (100, 2.0, 2.5))]  # fmt: skip
    (lm / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    alone = _draw(plt, read_runs([gan]), "iterations")
    assert not any("bits/char: held-out" in ax.get_title() for ax in alone.axes)
    fig = _draw(plt, read_runs([gan, lm]), "iterations")
    panel = next(ax for ax in fig.axes if "bits/char: held-out" in ax.get_title())
    lines = [(list(line.get_ydata()), line.get_linestyle()) for line in panel.get_lines()]
    plt.close(alone)
    plt.close(fig)
    held, train = ([3.0, 2.5], "-"), ([3.5, 2.0], ":")
    assert lines[-2:] == [held, train]  # the language model's: held-out solid, training dotted
    assert all(all(y != y for y in ys) for ys, _ in lines[:-2])  # the GAN run's: gaps (nan)
