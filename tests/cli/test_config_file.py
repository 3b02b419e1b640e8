"""`textgan train --config FILE`: a TOML file of options or a run's config.json; flags override
the file, the file overrides the preset; every bad file is one error line and touches nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import assert_one_line_error, tree_hash
from typer.testing import CliRunner

from textgan.cli.app import app
from textgan.config import PRESETS, TrainConfig, resolve_config
from textgan.configfile import merge_options, read_options_file
from textgan.rundir.checkpoint import load_checkpoint

runner = CliRunner()
DOCS = Path(__file__).resolve().parents[2] / "docs"
TINY_TOML = """\
dim = 8
n-blocks = 1
seq_len = 16
batch-size = 16
critic-iters = 2
device = "cpu"
eval-every = 5
eval-samples = 16
"""


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def config_json(run: Path) -> dict:
    return json.loads((run / "config.json").read_text())


def test_a_run_repeated_from_its_config_json_trains_bit_identically(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    first, again = tmp_path / "first", tmp_path / "again"
    toml = tmp_path / "tiny.toml"
    toml.write_text(TINY_TOML + "iters = 5\nlr = 3e-4\n")
    assert invoke("train", tiny_corpus, "--config", toml, "--run-dir", first).exit_code == 0
    result = invoke("train", tiny_corpus, "--config", first / "config.json", "--run-dir", again)
    assert result.exit_code == 0, result.output
    assert config_json(again) == config_json(first)
    a, b = load_checkpoint(first / "ckpt-0000005.pt"), load_checkpoint(again / "ckpt-0000005.pt")
    for net in ("generator", "critic"):
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), (net, key)
    for opt in ("opt_g", "opt_c"):
        for index, state in a[opt]["state"].items():
            for key, value in state.items():
                assert torch.equal(value, b[opt]["state"][index][key]), (opt, key)
    clockless = [
        [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]
        for lines in ((run / "metrics.jsonl").read_text().splitlines() for run in (first, again))
    ]
    assert clockless[0] == clockless[1] and len(clockless[0]) == 1


def test_flags_override_the_file_which_overrides_the_preset(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    toml = tmp_path / "run.toml"
    options = TINY_TOML.replace("critic-iters = 2", "critic-iters = 3")
    toml.write_text(options + 'preset = "cpu"\niters = 2\nseed = 7\n')
    run = tmp_path / "run"
    result = invoke("train", tiny_corpus, "--config", toml, "--run-dir", run,
                    "--seed", "9", "--eval-every", "0")  # fmt: skip
    assert result.exit_code == 0, result.output
    config = config_json(run)
    assert config["seed"] == 9 and config["eval_every"] == 0  # the flags
    assert config["critic_iters"] == 3 and config["dim"] == 8  # the file, over the preset
    assert config["lr"] == PRESETS["cpu"]["lr"]  # the file's preset: cpu
    # a flag --preset overrides the file's; the file's values still override the preset's
    rerun = tmp_path / "rerun"
    result = invoke("train", tiny_corpus, "--config", toml, "--preset", "paper",
                    "--run-dir", rerun, "--eval-every", "0")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert config_json(rerun)["lr"] == TrainConfig().lr and config_json(rerun)["dim"] == 8


def test_a_flag_drops_the_file_values_it_makes_inapplicable(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """A run's config.json records gp_weight 10.0; --constraint clip drops it (clip's own
    default fills in), and another seed makes a new run of the same experiment."""
    first = tmp_path / "first"
    args = ["--dim", "8", "--n-blocks", "1", "--seq-len", "16", "--batch-size", "8",
            "--critic-iters", "1", "--device", "cpu", "--iters", "1",
            "--eval-every", "0"]  # fmt: skip
    assert invoke("train", tiny_corpus, *args, "--run-dir", first).exit_code == 0
    assert config_json(first)["gp_weight"] == 10.0
    clipped = tmp_path / "clipped"
    result = invoke("train", tiny_corpus, "--config", first / "config.json",
                    "--constraint", "clip", "--seed", "2", "--run-dir", clipped)  # fmt: skip
    assert result.exit_code == 0, result.output
    config = config_json(clipped)
    assert (config["constraint"], config["clip"], config["gp_weight"]) == ("clip", 0.01, None)
    assert config["seed"] == 2 and config["dim"] == 8
    # the file's own inconsistency is not dropped: it is an error, as the same flags would be
    assert merge_options({"constraint": "clip", "gp_weight": 5.0}, {}) == {
        "constraint": "clip", "gp_weight": 5.0
    }  # fmt: skip
    assert merge_options({"gp_weight": 5.0}, {"constraint": "lp"}) == {
        "gp_weight": 5.0, "constraint": "lp"
    }  # fmt: skip


def test_config_json_ignores_what_is_not_an_option(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"corpus": "c.txt", "betas": [0.5, 0.9], "noise_dim": 128,
                                "from_a_later_version": 1, "dim": 8, "lr": 1,
                                "minutes": None, "clip": None, "tensorboard": True}))  # fmt: skip
    assert read_options_file(path) == {"dim": 8, "lr": 1.0, "tensorboard": True,
                                       "betas": (0.5, 0.9)}  # fmt: skip
    assert isinstance(read_options_file(path)["lr"], float)


@pytest.mark.parametrize("name", ["paper", "cpu"])
def test_the_example_files_in_docs_load_as_their_presets(name: str) -> None:
    options = read_options_file(DOCS / f"{name}.toml")
    preset = options.pop("preset")
    assert preset == name
    expected = resolve_config(name, "cpu", **({"device": "cpu"} if name == "cpu" else {}))
    assert resolve_config(preset, "cpu", **options) == expected


BAD_FILES = {
    "unknown.toml": ("dim = 8\nbetaz = 1\n", ["'betaz'", "unknown option"]),
    "typo.toml": ("critic_iter = 5\n", ["'critic_iter'", "critic-iters"]),
    "type.toml": ('dim = "64"\n', ["dim must be an integer", '"64"']),
    "float.toml": ("iters = 1.5\n", ["iters must be an integer"]),
    "bool.toml": ("lr = true\n", ["lr must be a number"]),
    "twice.toml": ("seq-len = 8\nseq_len = 8\n", ["'seq_len'", "'seq-len'"]),
    "malformed.toml": ("dim = 8\nlr = = 2\n", ["cannot parse", "line 2"]),
    "table.toml": ("[train]\ndim = 8\n", ["unknown option 'train'"]),
    "malformed.json": ('{"dim": 8,\n "lr": }\n', ["cannot parse", "line 2"]),
    "list.json": ("[1, 2]\n", ["not a JSON object"]),
    "wrongtype.json": ('{"seed": "one"}\n', ["seed must be an integer"]),
    "latin1.toml": (b"dim = 8 # \xe9\n", ["not UTF-8"]),
}


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        *((name, frags) for name, (_, frags) in BAD_FILES.items()),
        ("missing.toml", ["cannot read", "missing.toml"]),
        ("folder.toml", ["cannot read", "folder.toml"]),
        ("resume", ["--config", "--resume"]),
    ],
)
def test_every_bad_file_is_one_line_exit_2_and_nothing_written(
    name: str, fragments: list[str], tiny_corpus: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for file, (content, _) in BAD_FILES.items():
        path = tmp_path / file
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "folder.toml").mkdir()
    (tmp_path / "good.toml").write_text(TINY_TOML)
    before = tree_hash(tmp_path)
    if name == "resume":
        result = invoke("train", tiny_corpus, "--config", "good.toml", "--resume",
                        "--run-dir", "runs/x")  # fmt: skip
    else:
        result = invoke("train", tiny_corpus, "--config", name, "--iters", "1")
        fragments = [*fragments, name]  # the file is named
    assert_one_line_error(result, *fragments)
    assert tree_hash(tmp_path) == before and not (tmp_path / "runs").exists()
