"""`textgan runs`: real tiny runs that finished, stopped (by --minutes, a signal, a NaN) or are
incomplete, beside folders that are not runs."""

from __future__ import annotations

import functools
import itertools
import json
import os
import signal
from pathlib import Path

import pytest
from conftest import assert_one_line_error
from typer.testing import CliRunner

from textgan import TrainConfig, train
from textgan.cli.app import app
from textgan.errors import TrainingInterrupted
from textgan.evaluation.runs import changed_options
from textgan.training import loop

runner = CliRunner()
TINY = ["--dim", "8", "--n-blocks", "1", "--seq-len", "12", "--batch-size", "8",
        "--critic-iters", "1", "--device", "cpu", "--eval-every", "2",
        "--eval-samples", "16"]  # fmt: skip


def invoke(*args: object, columns: int = 200):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})


@pytest.fixture
def runs(tiny_corpus: Path, tmp_path: Path, monkeypatch) -> Path:
    """runs/ with one run of each status and three folders that are not runs, made oldest
    first in the order: finished, budget, signal, nan, incomplete, killed."""
    root = tmp_path / "runs"
    assert invoke("train", tiny_corpus, *TINY, "--iters", "4", "--loss", "hinge",
                  "--run-dir", root / "finished").exit_code == 0  # fmt: skip
    ticks = itertools.count()
    with monkeypatch.context() as patch:  # a clock 10 s later at every reading: 0.5 min = 3 its
        patch.setattr(
            loop, "train", functools.partial(loop.train, clock=lambda: 10.0 * next(ticks))
        )
        budget = invoke("train", tiny_corpus, *TINY, "--iters", "50", "--minutes", "0.5",
                        "--run-dir", root / "budget")  # fmt: skip
        assert budget.exit_code == 0, budget.output

    def stop(stats) -> None:  # SIGINT during iteration 2: the run stops after iteration 3
        if stats.iteration == 2:
            os.kill(os.getpid(), signal.SIGINT)

    config = TrainConfig(dim=8, n_blocks=1, seq_len=12, batch_size=8, critic_iters=1,
                         device="cpu", eval_every=2, eval_samples=16, iters=50, seed=3)  # fmt: skip
    with pytest.raises(TrainingInterrupted):
        train(config, tiny_corpus, root / "signal", on_step=stop)
    nan = invoke("train", tiny_corpus, *TINY, "--iters", "5", "--lr", "1e38",
                 "--checkpoint-every", "1", "--run-dir", root / "nan")  # fmt: skip
    assert nan.exit_code == 2
    # killed before its first checkpoint, and killed (kill -9) after some: no status.json
    for name, keep in (("incomplete", False), ("killed", True)):
        run = root / name
        assert invoke("train", tiny_corpus, *TINY, "--iters", "2", "--checkpoint-every", "1",
                      "--run-dir", run).exit_code == 0  # fmt: skip
        (run / "status.json").unlink()
        config = json.loads((run / "config.json").read_text())
        (run / "config.json").write_text(json.dumps({**config, "iters": 10}))
        for checkpoint in run.glob("ckpt-*.pt"):
            if not keep:
                checkpoint.unlink()
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("compare the seeds\n")
    (root / "other-tool").mkdir()
    (root / "other-tool" / "config.json").write_text('{"model": "resnet"}')
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{")
    (root / "README").write_text("a file, not a folder: not listed, no note\n")
    for age, name in enumerate(reversed(["finished", "budget", "signal", "nan", "incomplete",
                                         "killed"])):  # fmt: skip
        for path in (root / name).iterdir():
            os.utime(path, (1e9 - age * 100, 1e9 - age * 100))
    return root


def test_runs_lists_each_status_newest_first_and_skips_what_is_not_a_run(runs: Path) -> None:
    result = invoke("runs", runs, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    names = ["killed", "incomplete", "nan", "signal", "budget", "finished"]
    assert [row["name"] for row in rows] == names
    by_name = {row["name"]: row for row in rows}
    expected = {
        "finished": ("finished", "iters", 4, 4),
        "budget": ("stopped", "minutes", 3, 50),
        "signal": ("stopped", "signal", 3, 50),
        "nan": ("stopped", "nan", 1, 5),
        "incomplete": ("incomplete", None, 0, 10),
        "killed": ("incomplete", None, 2, 10),
    }
    for name, (status, reason, done, planned) in expected.items():
        row = by_name[name]
        assert (row["status"], row["reason"], row["iterations"], row["iters"]) == (
            status, reason, done, planned
        ), name  # fmt: skip
    assert by_name["signal"]["signal"] == "SIGINT" and by_name["nan"]["stopped_at"] == 2
    assert by_name["budget"]["minutes"] == pytest.approx(0.5)
    assert by_name["finished"]["options"]["loss"] == "hinge"
    assert by_name["signal"]["options"]["seed"] == 3 and "iters" not in by_name["signal"]["options"]
    metrics = [json.loads(line) for line in (runs / "finished" / "metrics.jsonl").open()]
    assert by_name["finished"]["js4_last"] == metrics[-1]["js4"]
    assert by_name["finished"]["js4_best"] == min(r["js4"] for r in metrics)
    assert by_name["nan"]["js4_last"] is None
    notes = result.stderr.strip().splitlines()
    assert len(notes) == 3 and all(line.startswith("note: skipped ") for line in notes)
    assert {line.split()[2].removesuffix(":") for line in notes} == {
        str(runs / name) for name in ("notes", "other-tool", "broken")
    }
    assert "Traceback" not in result.output

    table = invoke("runs", runs)
    assert table.exit_code == 0, table.output
    text = table.stdout
    for shown in ("finished", "stopped: --minutes 0.5", "stopped: SIGINT", "stopped: NaN at 2",
                  "incomplete: no checkpoint", "incomplete: running or killed", "loss=hinge",
                  "3 / 50", "4 / 4"):  # fmt: skip
        assert shown in text, shown
    assert [text.index(name) for name in names] == sorted(text.index(name) for name in names)
    narrow = invoke("runs", runs, columns=80)
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80


def test_runs_of_a_missing_or_empty_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(invoke("runs"), "runs")
    (tmp_path / "runs").mkdir()
    empty = invoke("runs")
    assert empty.exit_code == 0 and "no runs" in empty.stdout
    assert json.loads(invoke("runs", "--json").stdout) == []


def test_changed_options_compare_a_penalty_weight_where_it_applies() -> None:
    base = TrainConfig().to_dict()
    assert changed_options(base) == {}
    assert changed_options(TrainConfig(constraint="clip").to_dict()) == {"constraint": "clip"}
    assert changed_options(TrainConfig(gp_weight=5.0, dim=64).to_dict()) == {
        "dim": 64, "gp_weight": 5.0
    }  # fmt: skip
    assert changed_options({**base, "iters": 5, "device": "cpu", "minutes": 3.0}) == {}
