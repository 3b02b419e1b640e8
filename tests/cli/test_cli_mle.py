"""--loss mle through the command line: the critic's options refused in one line with nothing
written, the preset's language-model settings, config.json's nulls, and sample, eval and sweep
of a language model's run at its kind's temperature."""

import json
from pathlib import Path

import pytest
from conftest import assert_one_line_error
from typer.testing import CliRunner

from textgan.cli.app import app
from textgan.config import LM_PRESETS

runner = CliRunner()
TINY = ["--dim", "8", "--n-blocks", "1", "--seq-len", "12", "--batch-size", "8",
        "--device", "cpu", "--eval-every", "5", "--eval-samples", "16",
        "--checkpoint-every", "5", "--iters", "5"]  # fmt: skip


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize(
    "option",
    [("--constraint", "gp"), ("--gp-weight", "10"), ("--clip", "0.01"), ("--critic-iters", "10"),
     ("--critic-norm", "none"), ("--lr-critic", "1e-4"), ("--engine", "fused")],
)  # fmt: skip
def test_critic_options_with_mle_are_one_line_and_write_nothing(
    tiny_corpus: Path, tmp_path: Path, option: tuple[str, str]
) -> None:
    run = tmp_path / "run"
    result = invoke("train", tiny_corpus, *TINY, "--loss", "mle", *option, "--run-dir", run)
    assert_one_line_error(result, option[0], "does not apply to --loss mle")
    assert not run.exists()


def test_lm_with_a_gan_loss_is_one_line(tiny_corpus: Path, tmp_path: Path) -> None:
    result = invoke("train", tiny_corpus, *TINY, "--lm", "conv", "--run-dir", tmp_path / "r")
    assert_one_line_error(result, "--lm applies only to --loss mle")
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def mle_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from conftest import make_lines

    root = tmp_path_factory.mktemp("mle")
    corpus = root / "tiny.txt"
    corpus.write_text("\n".join(make_lines(300)) + "\n", encoding="utf-8")
    run = root / "run"
    result = invoke("train", corpus, *TINY, "--loss", "mle", "--preset", "cpu", "--run-dir", run)
    assert result.exit_code == 0, result.output
    return run


def test_mle_takes_the_presets_language_model_settings(mle_run: Path) -> None:
    config = json.loads((mle_run / "config.json").read_text())
    for name in ("critic_iters", "constraint", "gp_weight", "clip", "critic_norm", "lr_critic"):
        assert config[name] is None, name
    assert (config["loss"], config["lm"], config["dim"]) == ("mle", "conv", 8)  # --dim given
    assert config["lr"] == LM_PRESETS["cpu"]["lr"]
    assert config["betas"] == list(LM_PRESETS["cpu"]["betas"])
    record = json.loads((mle_run / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["iteration"] == 5 and record["heldout_bpc"] > 0 and "train_bpc" in record


def test_sample_eval_and_sweep_a_language_models_run(mle_run: Path) -> None:
    drawn = invoke("sample", "-n", "40", "--run-dir", mle_run, "--seed", "1")
    at_one = invoke("sample", "-n", "40", "--run-dir", mle_run, "--seed", "1",
                    "--temperature", "1")  # fmt: skip
    greedy = invoke("sample", "-n", "40", "--run-dir", mle_run, "--seed", "1",
                    "--temperature", "0")  # fmt: skip
    assert drawn.exit_code == 0, drawn.output
    assert drawn.stdout == at_one.stdout  # by run kind: 1 for a language model
    assert len(set(greedy.stdout.splitlines())) == 1  # greedy: one line, whatever the seed
    assert len(set(drawn.stdout.splitlines())) > 1
    evaluated = invoke("eval", "--run-dir", mle_run, "--json", "-n", "16")
    assert evaluated.exit_code == 0, evaluated.output
    scores = json.loads(evaluated.stdout)
    assert scores["heldout_bpc"] > 0 and "js4" in scores and "quality" in scores
    swept = invoke("sweep", mle_run, "--temperatures", "0,1", "-n", "16", "--json")
    assert swept.exit_code == 0, swept.output
    rows = json.loads(swept.stdout)
    assert [row["temperature"] for row in rows] == [0, 1] and all("js4" in r for r in rows)
    compared = invoke("compare", mle_run, "--json")
    assert compared.exit_code == 0, compared.output
    row = json.loads(compared.stdout)[0]
    assert isinstance(row["js4_last"], float) and row["critic_gap"] is None
    listed = invoke("runs", mle_run.parent, "--json")
    assert listed.exit_code == 0, listed.output
    options = json.loads(listed.stdout)[0]["options"]  # a language model's own defaults aside
    assert options["loss"] == "mle" and not {"critic_iters", "constraint", "lm"} & options.keys()


def test_a_gan_config_file_trains_a_language_model_with_loss_mle(
    mle_run: Path, tmp_path: Path
) -> None:
    """A GAN's options in a file, --loss mle on the command line: the file's critic options
    drop out rather than being refused."""
    options = tmp_path / "gan.toml"
    options.write_text('critic-iters = 5\nconstraint = "lp"\ngp-weight = 5.0\ndim = 8\n')
    run = tmp_path / "run"
    result = invoke("train", mle_run.parent / "tiny.txt", "--config", options, "--loss", "mle",
                    "--seq-len", "12", "--batch-size", "8", "--iters", "2", "--eval-every", "0",
                    "--device", "cpu", "--run-dir", run)  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert (config["critic_iters"], config["constraint"], config["dim"]) == (None, None, 8)


def test_a_language_models_run_resumes_and_refuses_critic_options(
    mle_run: Path, tmp_path: Path
) -> None:
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(mle_run, run)
    corpus = mle_run.parent / "tiny.txt"
    refused = invoke("train", corpus, "--run-dir", run, "--resume", "--iters", "7",
                     "--critic-iters", "2")  # fmt: skip
    assert_one_line_error(refused, "--critic-iters does not apply to --loss mle")
    resumed = invoke("train", corpus, "--run-dir", run, "--resume", "--iters", "7",
                     "--eval-temperature", "0.5")  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    config = json.loads((run / "config.json").read_text())
    assert (config["iters"], config["eval_temperature"], config["loss"]) == (7, 0.5, "mle")
