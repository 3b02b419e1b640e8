"""--tensorboard: events in RUN/tb/ read back with TensorBoard's own reader (skipped only where
the tensorboard package, the `textgan[tensorboard]` extra, is absent); without the package the
flag is one error line before anything is written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, tree_hash
from typer.testing import CliRunner

from textgan.cli.app import app
from textgan.training.tensorboard import SAMPLES_SHOWN

runner = CliRunner()
TINY = ["--dim", "8", "--n-blocks", "1", "--seq-len", "12", "--batch-size", "8",
        "--critic-iters", "2", "--device", "cpu", "--eval-every", "2", "--eval-samples", "24",
        "--checkpoint-every", "3"]  # fmt: skip
EVAL_TAGS = [*(f"eval/js{n}" for n in range(1, 5)), "eval/word_validity",
             *(f"eval/in_test{n}" for n in range(1, 5)), "eval/distinct", "eval/copied",
             "eval/critic_train", "eval/critic_heldout", "eval/critic_gap"]  # fmt: skip
TRAIN_TAGS = ["train/critic_loss", "train/generator_loss", "train/wasserstein", "train/gp",
              "train/seconds", "train/iterations_per_second", "train/lr_generator",
              "train/lr_critic"]  # fmt: skip


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def events(run: Path):
    """RUN/tb/ as the TensorBoard server reads it: its plugin event accumulator, which holds
    every summary as a tensor and purges what a restart (a resumed run) logs again."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run / "tb"), size_guidance={"tensors": 0})
    return accumulator.Reload()


def logged(read, tag: str) -> list[tuple[int, object]]:
    """(step, value) of every event of tag."""
    from tensorboard.util.tensor_util import make_ndarray

    return [(e.step, make_ndarray(e.tensor_proto).item()) for e in read.Tensors(tag)]


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def samples(run: Path) -> dict[int, list[str]]:
    blocks = (run / "samples.txt").read_text().split("# iteration ")[1:]
    return {int(b.split("\n", 1)[0]): b.split("\n", 1)[1].splitlines() for b in blocks}


def check_events(run: Path, iterations: list[int]) -> None:
    """Every tag at the evaluated iterations, once each, with metrics.jsonl's values; the
    first SAMPLES_SHOWN samples as text; the options as hyperparameters, eval/js4 their metric."""
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    read = events(run)
    records = metrics(run)
    assert [r["iteration"] for r in records] == iterations
    assert set(EVAL_TAGS + TRAIN_TAGS) <= set(read.Tags()["tensors"])
    for tag in EVAL_TAGS + TRAIN_TAGS:
        assert read.SummaryMetadata(tag).plugin_data.plugin_name == "scalars", tag
    for tag in [*EVAL_TAGS, "train/critic_loss", "train/wasserstein", "train/gp", "train/seconds"]:
        key = tag.split("/")[1]
        steps, values = zip(*logged(read, tag), strict=True)
        assert list(steps) == iterations, tag  # each step once
        tolerance = 1e-3 if key == "seconds" else 1e-6  # metrics.jsonl rounds seconds to ms
        assert list(values) == pytest.approx([r[key] for r in records], abs=tolerance), tag
    lr = json.loads((run / "config.json").read_text())["lr"]
    assert [v for _, v in logged(read, "train/lr_critic")] == pytest.approx([lr] * len(records))
    shown = samples(run)
    text = logged(read, "eval/samples/text_summary")
    assert [step for step, _ in text] == iterations
    for step, value in text:
        lines = value.decode().split("\n")
        assert [line.removeprefix("    ") for line in lines] == shown[step][:SAMPLES_SHOWN]
        assert len(shown[step]) > SAMPLES_SHOWN
    content = read.PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["dim"].number_value == 8 and hparams["loss"].string_value == "wasserstein"
    assert hparams["corpus"].string_value.endswith("tiny.txt")
    experiment = HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert [m.name.tag for m in experiment.metric_infos] == ["eval/js4"]
    final = logged(read, "eval/js4")[-1]  # the metric's value in the HParams view: the final js4
    assert final == (iterations[-1], pytest.approx(records[-1]["js4"]))


def test_tensorboard_events_and_a_resume_that_logs_no_step_twice(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    pytest.importorskip("tensorboard")
    run = tmp_path / "run"
    first = invoke("train", tiny_corpus, *TINY, "--iters", "4", "--run-dir", run, "--tensorboard")
    assert first.exit_code == 0, first.output
    check_events(run, [2, 4])
    # the process stopped after logging iteration 4 but before its checkpoint: the resume from
    # iteration 3 trains and logs iteration 4 again, which replaces what was logged of it
    (run / "ckpt-0000004.pt").unlink()
    resumed = invoke("train", tiny_corpus, "--resume", "--run-dir", run, "--iters", "6")
    assert resumed.exit_code == 0, resumed.output  # the saved config keeps --tensorboard on
    assert len(list((run / "tb").iterdir())) == 2  # one events file per process
    check_events(run, [2, 4, 6])


def test_tensorboard_without_the_package_is_one_line_and_writes_nothing(
    tiny_corpus: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard fails
    monkeypatch.chdir(tmp_path)
    before = tree_hash(tmp_path)
    result = invoke("train", tiny_corpus, *TINY, "--iters", "2", "--tensorboard")
    assert_one_line_error(result, "--tensorboard", 'pip install "textgan[tensorboard]"')
    assert tree_hash(tmp_path) == before and not (tmp_path / "runs").exists()
