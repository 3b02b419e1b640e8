import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from textgan import TrainConfig, train
from textgan.cli.app import app
from textgan.data.corpus import encode_corpus
from textgan.evaluation.evaluator import Evaluator
from textgan.models.resnet import Generator
from textgan.rundir.runlog import read_metrics, truncate_after

runner = CliRunner()
CONFIG = dict(dim=8, n_blocks=1, seq_len=16, batch_size=16, critic_iters=1, device="cpu",
              eval_every=2, eval_samples=32, checkpoint_every=2)  # fmt: skip
SCORES = {"js1", "js2", "js3", "js4", "word_validity", "in_test1", "in_test2", "in_test3",
          "in_test4", "distinct", "copied"}  # fmt: skip
BITS = {"quality", "coverage"}  # bits per character


def test_training_writes_metrics_samples_and_floor(tiny_corpus: Path, tmp_path: Path) -> None:
    seen = []
    train(TrainConfig(iters=5, **CONFIG), tiny_corpus, tmp_path / "run", on_eval=seen.append)
    records = read_metrics(tmp_path / "run")
    assert [r["iteration"] for r in records] == [2, 4, 5] == [r["iteration"] for r in seen]
    for record in records:
        assert SCORES | BITS | {"seconds", "critic_loss", "generator_loss", "wasserstein",
                                "gp"} <= set(record)  # fmt: skip
        assert all(0.0 <= record[k] <= 1.0 for k in SCORES)
        assert all(0.0 < record[k] < 20.0 for k in BITS)
        assert record["critic_gap"] == record["critic_train"] - record["critic_heldout"]
    assert records[0]["seconds"] <= records[-1]["seconds"]
    samples = (tmp_path / "run" / "samples.txt").read_text().splitlines()
    assert samples[0] == "# iteration 2" and len(samples) == 3 * 33
    floor = json.loads((tmp_path / "run" / "floor.json").read_text())
    assert set(floor) == {f"floor_{k}" for k in ("js1", "js2", "js3", "js4", *BITS)}


def test_held_out_lines_are_never_trained_on(tmp_path: Path) -> None:
    corpus = tmp_path / "unique.txt"
    lines = [f"line number {i} of the corpus" for i in range(200)]
    corpus.write_text("\n".join(lines) + "\n")
    encoded = encode_corpus(corpus, 16, 2048, holdout=20, seed=0)
    assert len(encoded.split.heldout) == 20 and len(encoded.split.train) == 180
    assert not set(encoded.split.train) & set(encoded.split.heldout)
    assert sorted(encoded.split.train + encoded.split.heldout) == sorted(lines)
    assert len(encoded.ids) == 180 and len(encoded.heldout_ids) == 20
    assert (
        encode_corpus(corpus, 16, 2048, holdout=20, seed=0).split.heldout == encoded.split.heldout
    )
    assert (
        encode_corpus(corpus, 16, 2048, holdout=20, seed=1).split.heldout != encoded.split.heldout
    )
    capped = encode_corpus(corpus, 16, 2048, holdout=640, seed=0)  # at most a tenth
    assert len(capped.split.heldout) == 20


def test_sibling_heldout_file_is_used(tmp_path: Path) -> None:
    (tmp_path / "text_train.txt").write_text("abc def\n" * 40)
    (tmp_path / "text_heldout.txt").write_text("ghi\n" * 5)
    encoded = encode_corpus(tmp_path / "text_train.txt", 8, 2048)
    assert encoded.split.heldout == ["ghi"] * 5 and len(encoded.split.train) == 40


def test_evaluator_scores_real_text_better_than_noise(tiny_corpus: Path) -> None:
    encoded = encode_corpus(tiny_corpus, 16, 2048, holdout=30, seed=0)
    evaluator = Evaluator(encoded, n_samples=64)
    untrained = Generator(
        TrainConfig(dim=8, n_blocks=1, seq_len=16).model_config(len(encoded.vocab))
    )
    scores = evaluator(untrained, seed=0).scores
    assert scores["js4"] > evaluator.floor["floor_js4"]
    assert scores["word_validity"] < 0.5


def test_resume_forgets_evaluations_after_the_checkpoint(tiny_corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(TrainConfig(iters=4, **CONFIG), tiny_corpus, run)
    truncate_after(run, 2)
    assert [r["iteration"] for r in read_metrics(run)] == [2]
    assert (run / "samples.txt").read_text().count("# iteration") == 1


def test_eval_command_json_and_table(tiny_corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(TrainConfig(iters=2, **CONFIG), tiny_corpus, run)
    result = runner.invoke(app, ["eval", "--run-dir", str(run), "-n", "32", "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert SCORES | BITS | {f"floor_{k}" for k in ("js1", "js2", "js3", "js4", *BITS)} <= set(
        scores
    )
    assert list(scores)[2:9] == ["js1", "js2", "js3", "js4", "quality", "coverage",
                                 "word_validity"]  # fmt: skip
    table = runner.invoke(app, ["eval", "--run-dir", str(run), "-n", "32"])
    assert table.exit_code == 0 and "floor_js4" in table.stdout and "floor_coverage" in table.stdout


def test_plot_without_matplotlib_says_how_to_install(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    train(TrainConfig(iters=2, **CONFIG), tiny_corpus, run)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = runner.invoke(app, ["plot", "--run-dir", str(run), "--out", str(tmp_path / "c.png")])
    assert result.exit_code == 2 and "textgan[plot]" in result.stderr
    assert not (tmp_path / "c.png").exists()


def test_plot_writes_a_png(tiny_corpus: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    run = tmp_path / "run"
    train(TrainConfig(iters=4, **CONFIG), tiny_corpus, run)
    out = tmp_path / "curves.png"
    result = runner.invoke(app, ["plot", "--run-dir", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
