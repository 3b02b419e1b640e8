"""`textgan eval --samples FILE` and `textgan sweep`: any text scored against a corpus, and runs
scored over temperatures, with the keys of metrics.jsonl."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_one_line_error, make_lines, tree_hash
from typer.testing import CliRunner

from textgan import TrainConfig, train
from textgan.cli.app import app
from textgan.data.corpus import encode_corpus

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
CONFIG = dict(dim=8, n_blocks=1, seq_len=16, batch_size=16, critic_iters=1, device="cpu",
              eval_every=0, eval_samples=32)  # fmt: skip
SCORES = ["js1", "js2", "js3", "js4", "quality", "coverage", "word_validity", "in_test1",
          "in_test2", "in_test3", "in_test4", "distinct", "copied"]  # fmt: skip
FLOOR = [f"floor_{k}" for k in ("js1", "js2", "js3", "js4", "quality", "coverage")]
# what a row of the generator may hold and its decoded text cannot: a pad between characters,
# which js-n counts where it stands; every other measure reads a row as its decoded text
TEXT_SCORES = [k for k in SCORES if not k.startswith("js")]


def invoke(*args: Any):
    return runner.invoke(app, [str(a) for a in args], env=WIDE)


def scored(*args: Any) -> dict[str, Any]:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def run(tiny_corpus: Path, tmp_path: Path) -> Path:
    train(TrainConfig(iters=2, checkpoint_every=2, **CONFIG), tiny_corpus, tmp_path / "run")
    return tmp_path / "run"


def test_eval_samples_prints_the_keys_of_metrics_jsonl(tiny_corpus: Path, tmp_path: Path) -> None:
    like_corpus, garbage = tmp_path / "like.txt", tmp_path / "garbage.txt"
    like_corpus.write_text("\n".join(make_lines(64, seed=9)) + "\n")
    garbage.write_text("\n".join(f"qx{i}zv kjw{i % 7}pt ybq" for i in range(64)) + "\n")
    like, bad = (
        scored("eval", "--samples", like_corpus, "--corpus", tiny_corpus),
        scored("eval", "--samples", garbage, "--corpus", tiny_corpus),
    )
    assert list(like) == ["file", "samples", *SCORES, *FLOOR] and like["samples"] == 64
    assert like["quality"] < bad["quality"] - 2 and like["coverage"] < bad["coverage"]
    assert like["word_validity"] == 1.0 and bad["word_validity"] == 0.0
    table = invoke("eval", "--samples", like_corpus, "--corpus", tiny_corpus)
    assert table.exit_code == 0 and "floor_coverage" in table.stdout
    assert "like.txt:64samples" in "".join(table.stdout.split())  # the title, however wrapped


def test_a_file_of_a_runs_samples_scores_as_the_runs_evaluation(
    run: Path, tiny_corpus: Path, tmp_path: Path
) -> None:
    lines = tmp_path / "lines.txt"
    result = invoke("sample", "--run-dir", run, "-n", "32", "--seed", "5", "--out", lines)
    assert result.exit_code == 0, result.output
    from_file = scored("eval", "--samples", lines, "--corpus", tiny_corpus, "--seq-len", "16")
    from_run = scored("eval", "--run-dir", run, "-n", "32", "--seed", "5")
    assert [from_file[k] for k in TEXT_SCORES] == [from_run[k] for k in TEXT_SCORES]
    assert [from_file[k] for k in FLOOR] == [from_run[k] for k in FLOOR]


def test_eval_samples_cuts_lines_to_seq_len(tiny_corpus: Path, tmp_path: Path) -> None:
    """Training lines cut to --seq-len are copies of them; a blank line is an empty sample."""
    samples = tmp_path / "copies.txt"
    training = encode_corpus(tiny_corpus, 12, 2048, use_cache=False).split.train  # default split
    long = [line for line in training if len(line) > 12][:9]
    samples.write_text("\n".join([*long, ""]) + "\n")
    scores = scored("eval", "--samples", samples, "--corpus", tiny_corpus, "--seq-len", "12")
    assert scores["samples"] == 10 and scores["copied"] == pytest.approx(0.9)


C = ["--corpus", "{corpus}"]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--samples", "{dir}/missing.txt", *C], ["samples file", "missing.txt does not exist"]),
        (["--samples", "{dir}/empty.txt", *C], ["empty.txt holds no samples"]),
        (["--samples", "{dir}/blank.txt", *C], ["blank.txt holds no samples"]),
        (["--samples", "{dir}/latin1.txt", *C], ["not UTF-8", "line 3"]),
        (["--samples", "{dir}/binary.bin", *C], ["binary"]),
        (["--samples", "{dir}", *C], ["is a directory"]),
        (["--samples", "{dir}/ok.txt", "--corpus", "{dir}/none.txt"], ["none.txt does not exist"]),
        (["--samples", "{dir}/ok.txt"], ["--samples needs --corpus"]),
        (["--samples", "{dir}/ok.txt", *C, "--run-dir", "{dir}"], ["--run-dir does not apply"]),
        (["--samples", "{dir}/ok.txt", *C, "--checkpoint", "{dir}/ok.txt"], ["--checkpoint"]),
        (["--samples", "{dir}/ok.txt", *C, "-n", "5"], ["-n does not apply to --samples"]),
        (["--samples", "{dir}/ok.txt", *C, "--seq-len", "0"], ["--seq-len", "positive"]),
        (["--seq-len", "8"], ["--seq-len applies to --samples only"]),
    ],
)
def test_bad_sample_files_and_options_are_one_line_errors(
    args: list[str], fragments: list[str], tiny_corpus: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_bytes(b"\n  \n\t\n")
    (tmp_path / "latin1.txt").write_bytes(b"ok\nok\nbad \xff\n")
    (tmp_path / "binary.bin").write_bytes(b"\x00\x01\x02 binary")
    (tmp_path / "ok.txt").write_text("the cat sat\n")
    before = tree_hash(tmp_path)
    result = invoke("eval", *(a.format(dir=tmp_path, corpus=tiny_corpus) for a in args))
    assert_one_line_error(result, *fragments)
    assert tree_hash(tmp_path) == before


def test_sweep_scores_each_run_at_each_temperature(
    run: Path, tiny_corpus: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    train(TrainConfig(iters=2, checkpoint_every=2, seed=1, **CONFIG), tiny_corpus, other)
    rows = scored("sweep", run, other / "ckpt-0000002.pt", "--temperatures", "0,0.7,1", "-n", "24")
    assert [(Path(r["run"]).name, r["temperature"]) for r in rows] == [
        ("run", 0.0), ("run", 0.7), ("run", 1.0),
        ("ckpt-0000002.pt", 0.0), ("ckpt-0000002.pt", 0.7), ("ckpt-0000002.pt", 1.0),
    ]  # fmt: skip
    assert all(list(r) == ["run", "temperature", *SCORES, *FLOOR] for r in rows)
    argmax = scored("eval", "--run-dir", run, "-n", "24", "--seed", "0")
    assert {k: rows[0][k] for k in SCORES} == {k: argmax[k] for k in SCORES}
    assert rows[1]["quality"] != rows[0]["quality"]  # another temperature, other samples
    table = invoke("sweep", run, "--temperatures", "0,1", "-n", "8")
    assert table.exit_code == 0, table.output
    body = table.stdout.splitlines()
    assert sum("floor" in line for line in body) == 1 and "coverage" in table.stdout


def test_sweep_merges_seeds_into_mean_and_sd(run: Path, tiny_corpus: Path, tmp_path: Path) -> None:
    other_seed, other_lr = tmp_path / "seed1", tmp_path / "lr"
    train(TrainConfig(iters=2, checkpoint_every=2, seed=1, **CONFIG), tiny_corpus, other_seed)
    train(TrainConfig(iters=2, checkpoint_every=2, lr=3e-4, **CONFIG), tiny_corpus, other_lr)
    runs = (run, other_seed, other_lr)
    each = scored("sweep", *runs, "--temperatures", "0,1", "-n", "16")
    merged = scored("sweep", *runs, "--temperatures", "0,1", "-n", "16", "--group-seeds")
    assert [(r["run"], r["n"], r["temperature"]) for r in merged] == [
        ("lr=0.0001 (2 runs)", 2, 0.0), ("lr=0.0001 (2 runs)", 2, 1.0),
        ("lr=0.0003 (1 run)", 1, 0.0), ("lr=0.0003 (1 run)", 1, 1.0),
    ]  # fmt: skip
    assert merged[0]["runs"] == [str(run), str(other_seed)]
    for row, pair in ((merged[0], [each[0], each[2]]), (merged[1], [each[1], each[3]])):
        for key in ("js4", "quality", "coverage"):
            values = [p[key] for p in pair]
            assert row[key] == pytest.approx(sum(values) / 2)
            assert row[f"{key}_sd"] == pytest.approx(abs(values[0] - values[1]) / 2**0.5)
    assert merged[2]["js4"] == each[4]["js4"] and merged[2]["js4_sd"] is None
    table = invoke("sweep", *runs, "--temperatures", "0,1", "-n", "16", "--group-seeds")
    assert table.exit_code == 0, table.output
    assert "lr=0.0001 (2 runs)" in table.stdout and "±" in table.stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["{run}", "--temperatures", "0,,1"], ["--temperatures must be numbers", "'0,,1'"]),
        (["{run}", "--temperatures", "0,-0.5"], ["finite and >= 0", "-0.5"]),
        (["{run}", "--temperatures", "nan"], ["finite"]),
        (["{run}", "--temperatures", "1,0.5,1"], ["twice"]),
        (["{run}", "-n", "0"], ["-n must be a positive number"]),
        (["{dir}/missing"], ["run", "missing does not exist"]),
        (["{run}", "{dir}/empty"], ["no checkpoint found in", "empty"]),
        (["{run}", "{run}/ckpt-0000002.pt"], ["named twice"]),
        (["{run}", "--out", "{dir}/nodir/qd.png"], ["cannot write", "nodir/qd.png"]),
        (["{run}", "--out", "{dir}"], ["cannot write"]),
    ],
)
def test_bad_sweeps_are_one_line_errors_that_write_nothing(
    args: list[str], fragments: list[str], run: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    before = tree_hash(tmp_path)
    result = invoke("sweep", *(a.format(dir=tmp_path, run=run) for a in args))
    assert_one_line_error(result, *fragments)
    assert tree_hash(tmp_path) == before


def test_sweep_draws_the_quality_coverage_plane(run: Path, tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from textgan.evaluation.sweep_plot import draw_plane

    out = tmp_path / "qd.png"
    result = invoke("sweep", run, "--temperatures", "0,1", "-n", "8", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = json.loads(result.stdout)  # --json: stdout is the JSON alone
    moved = [{**row, "run": "b", "quality": row["quality"] + 1} for row in rows]
    fig = draw_plane(plt, [*rows[::-1], *moved])  # each run's points drawn by temperature
    ax = fig.axes[0]
    curves = [line for line in ax.get_lines() if line.get_marker() == "o"]
    stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
    labels = sorted(text.get_text() for text in ax.texts)
    plt.close(fig)
    assert [list(line.get_xdata()) for line in curves] == [
        [rows[0]["quality"], rows[1]["quality"]],
        [rows[0]["quality"] + 1, rows[1]["quality"] + 1],
    ]
    assert labels == ["0", "0", "1", "1"] and len(stars) == 1  # both runs share one floor
    assert list(stars[0].get_ydata()) == [rows[0]["floor_coverage"]]


def test_sweep_without_matplotlib_fails_before_sampling(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textgan.evaluation import sweep

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(sweep, "sweep_runs", lambda *a: pytest.fail("sampled first"))
    result = invoke("sweep", run, "--out", tmp_path / "qd.png")
    assert_one_line_error(result, "textgan[plot]")
    assert not (tmp_path / "qd.png").exists()
