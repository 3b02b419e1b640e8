import dataclasses
import functools
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import as_saved_on_cuda, assert_one_line_error, tree_hash
from rich.markup import escape
from typer.main import get_command
from typer.testing import CliRunner

from textgan import __version__
from textgan.cli.app import app
from textgan.config import PRESETS, TrainConfig

runner = CliRunner()
TINY_NETS = ["--dim", "8", "--n-blocks", "1", "--seq-len", "16", "--batch-size", "16",
             "--device", "cpu"]  # fmt: skip
TINY = [*TINY_NETS, "--critic-iters", "2"]


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_version() -> None:
    assert invoke("--version").stdout.strip() == f"textgan {__version__}"
    out = subprocess.run(
        [sys.executable, "-m", "textgan", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == f"textgan {__version__}"


def test_train_then_sample_end_to_end(tiny_corpus: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("train", tiny_corpus, *TINY, "--iters", "3", "--checkpoint-every", "2")
    assert result.exit_code == 0, result.output
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("tiny-")
    assert sorted(p.name for p in runs[0].glob("ckpt-*.pt")) == [
        "ckpt-0000002.pt",
        "ckpt-0000003.pt",
    ]
    sampled = invoke("sample", "-n", "20", "--seed", "1")
    assert sampled.exit_code == 0, sampled.output
    lines = sampled.stdout.splitlines()
    assert len(lines) == 20 and all(len(line) <= 16 for line in lines)
    assert invoke("sample", "-n", "20", "--seed", "1").stdout == sampled.stdout
    out = tmp_path / "samples.txt"
    assert invoke("sample", "-n", "5", "--run-dir", runs[0], "--out", out).exit_code == 0
    assert len(out.read_text().splitlines()) == 5
    warm = invoke("sample", "-n", "50", "--temperature", "1.0", "--seed", "2")
    assert warm.exit_code == 0 and len(warm.stdout.splitlines()) == 50


def test_precision_tf32_is_accepted_and_may_change_on_resume(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """tf32 is fp32 with TF32 products on CUDA; on a CPU (TINY's) the start table says fp32."""
    run = tmp_path / "run"
    for iters, precision in (("2", "tf32"), ("3", "fp32"), ("4", "tf32")):
        resume = ["--resume"] if iters != "2" else [*TINY]
        result = invoke("train", tiny_corpus, "--iters", iters, "--run-dir", run,
                        "--precision", precision, *resume)  # fmt: skip
        assert result.exit_code == 0, result.output
        shown = [line for line in result.stdout.splitlines() if "│ precision " in line]
        assert len(shown) == 1 and shown[0].split()[3] == "fp32", shown
        saved = torch.load(run / f"ckpt-000000{iters}.pt", weights_only=True)
        assert saved["config"]["precision"] == precision and saved["iteration"] == int(iters)


def test_resume_through_the_cli(tiny_corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert invoke("train", tiny_corpus, *TINY, "--iters", "2", "--run-dir", run).exit_code == 0
    result = invoke("train", tiny_corpus, "--iters", "3", "--run-dir", run, "--resume")
    assert result.exit_code == 0, result.output
    assert (run / "ckpt-0000003.pt").is_file()
    config = json.loads((run / "config.json").read_text())
    assert config["dim"] == 8 and config["iters"] == 3  # the resumed run's options as they are
    changed = invoke(
        "train", tiny_corpus, "--iters", "4", "--dim", "16", "--run-dir", run, "--resume"
    )
    assert_one_line_error(changed, "--dim")


def test_resuming_a_run_saved_on_cuda_says_its_streams_were_reseeded(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    from textgan.rundir.checkpoint import load_checkpoint, save_checkpoint

    run = tmp_path / "run"
    assert invoke("train", tiny_corpus, *TINY, "--iters", "2", "--run-dir", run).exit_code == 0
    checkpoint = run / "ckpt-0000002.pt"
    save_checkpoint(checkpoint, as_saved_on_cuda(load_checkpoint(checkpoint)))
    result = invoke("train", tiny_corpus, "--iters", "3", "--run-dir", run, "--resume")
    assert result.exit_code == 0, result.output
    line = "random streams re-seeded: the run moved from cuda to cpu"
    assert result.stdout.count(line) == 1
    again = invoke("train", tiny_corpus, "--iters", "4", "--run-dir", run, "--resume")
    assert again.exit_code == 0 and "re-seeded" not in again.stdout


def test_minutes_stop_and_resume_through_the_cli(
    tiny_corpus: Path, tmp_path: Path, monkeypatch
) -> None:
    """With a training clock 10 s later at every reading, --minutes 0.5 ends at iteration 3
    and says so last; --resume may raise the budget."""
    from textgan.training import loop

    ticks = itertools.count()  # the CLI's train, given this clock
    monkeypatch.setattr(
        loop, "train", functools.partial(loop.train, clock=lambda: 10.0 * next(ticks))
    )
    run = tmp_path / "run"
    args = ["train", tiny_corpus, *TINY, "--iters", "50", "--eval-every", "0", "--run-dir", run]
    first = invoke(*args, "--minutes", "0.5")
    assert first.exit_code == 0, first.output
    last = " ".join(first.stdout.split("done:", 1)[1].split())  # rich wraps the line
    assert last.startswith("--minutes 0.5 ran out after 0.50 minutes of training, at "
                           "iteration 3 of 50; checkpoint")  # fmt: skip
    assert "--resume" in last and (run / "ckpt-0000003.pt").is_file()
    resumed = invoke(*args, "--resume", "--minutes", "1")
    assert resumed.exit_code == 0, resumed.output
    assert "iteration 6 of 50" in " ".join(resumed.stdout.split())


def test_cli_options_are_the_config_fields() -> None:
    """Every TrainConfig field with a help text is a train option of that name, help and default
    (None: "take it from the preset / config"), and nothing else is."""
    command = get_command(app).commands["train"]
    fields = {f.name: f for f in dataclasses.fields(TrainConfig) if "help" in f.metadata}
    params = {p.name: p for p in command.params}
    fixed = {"corpus", "run_dir", "resume", "resume_if_exists", "preset", "heldout", "config_file"}
    assert params.keys() - fields.keys() == fixed
    in_presets = {key for values in PRESETS.values() for key in values}
    for name, field in fields.items():
        param = params[name]
        assert param.default is None and param.help == escape(field.metadata["help"]), name
        if name in in_presets:
            assert param.show_default == "from --preset", name
            assert PRESETS["paper"].get(name, field.default) == field.default, name
        else:
            shown = "all" if field.default is None else str(field.default)
            assert param.show_default == field.metadata.get("shown", shown), name


def test_presets_and_explicit_flags() -> None:
    from textgan.config import resolve_config

    assert resolve_config("auto", "cuda").dim == 512
    assert resolve_config("auto", "cpu") == resolve_config("cpu", "cuda")
    assert resolve_config("paper", "cpu", dim=64).dim == 64
    assert resolve_config("paper", "cpu").critic_iters == 10


@pytest.mark.parametrize(("preset", "averaged"), [("auto", True), ("cpu", True), ("paper", False)])
def test_the_cpu_preset_trains_and_samples_with_the_average(
    tiny_corpus: Path, tmp_path: Path, preset: str, averaged: bool
) -> None:
    from textgan.rundir.checkpoint import load_checkpoint

    run = tmp_path / "run"
    # the preset's own critic steps
    result = invoke("train", tiny_corpus, *TINY_NETS, "--preset", preset, "--iters", "3",
                    "--checkpoint-every", "3", "--run-dir", run)  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = load_checkpoint(run / "ckpt-0000003.pt")
    config = json.loads((run / "config.json").read_text())
    assert (saved.get("generator_ema") is not None) is averaged
    assert config["critic_iters"] == PRESETS["cpu" if averaged else "paper"]["critic_iters"]
    for raw in ([], ["--raw"]):
        sampled = invoke("sample", "-n", "8", "--seed", "1", "--run-dir", run, *raw)
        assert sampled.exit_code == 0 and len(sampled.stdout.splitlines()) == 8, sampled.output


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["train", "{dir}/missing.txt"], ["does not exist"]),
        (["train", "{dir}/billion_words.txt"], ["textgan corpus billion-words"]),
        (["train", "{dir}"], ["directory"]),
        (["train", "{dir}/empty.txt"], ["no text lines"]),
        (["train", "{dir}/latin1.txt"], ["line 3"]),
        (["train", "{corpus}", "--iters", "0"], ["--iters"]),
        (["train", "{corpus}", "--iters", "-5"], ["--iters"]),
        (["train", "{corpus}", "--batch-size", "0"], ["--batch-size"]),
        (["train", "{corpus}", "--seq-len", "0"], ["--seq-len"]),
        (["train", "{corpus}", "--device", "tpu"], ["--device"]),
        (["train", "{corpus}", "--preset", "huge"], ["--preset"]),
        (["train", "{corpus}", "--resume"], ["--run-dir"]),
        (["train", "{corpus}", *TINY, "--minutes", "0"], ["--minutes", "positive", "got 0"]),
        (["train", "{corpus}", *TINY, "--minutes", "-2"], ["--minutes", "got -2"]),
        (["train", "{corpus}", *TINY, "--minutes", "nan"], ["--minutes", "finite"]),
        (["train", "{corpus}", *TINY, "--minutes", "inf"], ["--minutes", "finite"]),
        (["train", "{corpus}", "--resume", "--run-dir", "{dir}/nothing"], ["no checkpoint"]),
        (["sample", "-n", "0", "--checkpoint", "{dir}/ckpt.pt"], ["-n"]),
        (["sample", "--checkpoint", "{dir}/empty.txt"], ["not a readable checkpoint"]),
        (["sample", "--run-dir", "{dir}/nothing"], ["no checkpoint"]),
    ],
)
def test_bad_input_is_one_line_exit_2_and_touches_nothing(
    args: list[str], fragments: list[str], tiny_corpus: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes(b"ok\nok\nbad \xff\n")
    (tmp_path / "nothing").mkdir()
    run = tmp_path / "nothing" / "ckpt-0000001.pt.keep"
    run.write_bytes(b"keep me")
    if "{dir}/ckpt.pt" in args:
        assert invoke("train", tiny_corpus, *TINY, "--iters", "1", "--run-dir", "r").exit_code == 0
        (tmp_path / "ckpt.pt").write_bytes((tmp_path / "r" / "ckpt-0000001.pt").read_bytes())
    before = tree_hash(tmp_path)
    result = invoke(*(a.format(dir=tmp_path, corpus=tiny_corpus) for a in args))
    assert_one_line_error(result, *fragments)
    assert tree_hash(tmp_path) == before


def test_sample_without_any_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(invoke("sample"), "no run found")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command", ["train {corpus}", "sample", "eval", "eval --json"])
def test_cuda_without_cuda(command: str, tiny_corpus: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = tree_hash(tmp_path)
    result = invoke(*command.format(corpus=tiny_corpus).split(), "--device", "cuda")
    assert_one_line_error(result, "--device cuda", "CUDA is not available")
    assert tree_hash(tmp_path) == before
