"""`textgan compare` and textgan.evaluation.compare: run dirs written by hand, and two tiny real
runs."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_one_line_error
from typer.testing import CliRunner

from textgan.cli import app
from textgan.config import TrainConfig
from textgan.evaluation.compare import FIGURES, compare_runs, run_label_options, run_labels

runner = CliRunner()
WIDE = {"COLUMNS": "400"}  # the compare table is wide; keep rich from wrapping its cells


def invoke(*args: Any):
    return runner.invoke(app, [str(a) for a in args], env=WIDE)


def record(iteration: int, seconds: float, js: list[float], **scores: Any) -> dict[str, Any]:
    """One metrics.jsonl line: js1..js4 from `js`, word scores from `scores` (default 0.5)."""
    words = {"word_validity": 0.5, "in_test1": 0.9, "in_test2": 0.6, "in_test3": 0.3,
             "in_test4": 0.1, "distinct": 1.0, "copied": 0.0}  # fmt: skip
    return {"iteration": iteration, "seconds": seconds, "critic_loss": -1.0,
            "generator_loss": 0.5, "wasserstein": 1.2, "gp": 0.1,
            **{f"js{n}": v for n, v in enumerate(js, 1)}, **words, **scores}  # fmt: skip


def make_run(root: Path, name: str, records: list[dict[str, Any]], **options: Any) -> Path:
    run = root / name
    run.mkdir()
    config = {"corpus": "corpora/tiny.txt", **TrainConfig(**{"dim": 8, **options}).to_dict()}
    (run / "config.json").write_text(json.dumps(config, indent=2))
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run


# Two evaluations each; the second run logs a critic gap and a best js1 that is not its last.
RUN_A = [record(50, 30.0, [0.30, 0.50, 0.70, 0.90]), record(100, 90.0, [0.20, 0.40, 0.60, 0.80])]
RUN_B = [
    record(50, 40.0, [0.10, 0.45, 0.65, 0.85], critic_gap=0.7),
    record(100, 150.0, [0.15, 0.35, 0.55, 0.75], word_validity=0.25, critic_gap=0.3),
]


def test_labels_of_two_and_three_runs() -> None:
    base = {"corpus": "c.txt", "loss": "wasserstein", "constraint": "gp", "lr": 1e-4, "seed": 1}
    two = [base, base | {"seed": 2}]
    assert run_label_options(two) == [{"seed": 1}, {"seed": 2}]
    assert run_labels(two) == ["seed=1", "seed=2"]
    three = [base, base | {"loss": "gan", "constraint": "none", "seed": 2}, base | {"lr": 3e-4}]
    assert run_labels(three) == [
        "loss=wasserstein constraint=gp lr=0.0001 seed=1",
        "loss=gan constraint=none lr=0.0001 seed=2",
        "loss=wasserstein constraint=gp lr=0.0003 seed=1",
    ]
    # a differing corpus counts; a key only some runs have is None in the others; lists: a,b
    other = [base | {"betas": [0.5, 0.9]}, base | {"corpus": "d.txt", "betas": [0.5, 0.99]}]
    assert run_label_options([base, other[0]]) == [{"betas": None}, {"betas": [0.5, 0.9]}]
    assert run_labels(other) == ["corpus=c.txt betas=0.5,0.9", "corpus=d.txt betas=0.5,0.99"]
    # an option a run has no value for is left out of its label
    clipped = base | {"constraint": "clip", "clip": 0.01, "gp_weight": None}
    gp = [base | {"clip": None, "gp_weight": 10.0}, clipped]
    assert run_labels(gp) == ["constraint=gp gp_weight=10.0", "constraint=clip clip=0.01"]
    unclipped = [base | {"clip": None}, base | {"clip": 0.1}]
    assert run_labels(unclipped, ["a", "b"]) == ["a", "clip=0.1"]
    assert run_labels([base, base], names=["run-a", "run-b"]) == ["run-a", "run-b"]
    assert run_labels([base]) == ["run 1"]


def test_compare_json_against_hand_computation(tmp_path: Path) -> None:
    a = make_run(tmp_path, "a", RUN_A, seed=1)
    b = make_run(tmp_path, "b", RUN_B, seed=1, dim=16, lr=3e-4)
    result = invoke("compare", a, b, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [list(row) for row in rows] == [["runs", "options", "n", *FIGURES]] * 2
    assert rows[1]["runs"] == [str(b)] and rows[1]["options"] == {"dim": 16, "lr": 3e-4}
    figures_b = {
        "n": 1, "iterations": 100, "minutes": 2.5,
        "js1_last": 0.15, "js2_last": 0.35, "js3_last": 0.55, "js4_last": 0.75,
        "js1_best": 0.10, "js2_best": 0.35, "js3_best": 0.55, "js4_best": 0.75,
        "word_validity": 0.25, "in_test1": 0.9, "in_test2": 0.6, "in_test3": 0.3,
        "in_test4": 0.1, "distinct": 1.0, "copied": 0.0, "critic_gap": 0.3,
    }  # fmt: skip
    assert {k: v for k, v in rows[1].items() if k in figures_b} == pytest.approx(figures_b)
    assert rows[0]["options"] == {"dim": 8, "lr": 1e-4}
    assert rows[0]["minutes"] == pytest.approx(1.5)
    assert rows[0]["js1_best"] == rows[0]["js1_last"] == pytest.approx(0.2)
    assert rows[0]["critic_gap"] is None  # run a never logged one
    assert compare_runs([a, b]) == rows


def test_compare_table_shows_the_differing_options(tmp_path: Path) -> None:
    a = make_run(tmp_path, "a", RUN_A, seed=1)
    b = make_run(tmp_path, "b", RUN_B, seed=1, n_blocks=3)
    result = invoke("compare", a, b)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    cells = {line.split("│")[1].strip(): line.split("│")[2:4] for line in lines if "│" in line}
    assert [c.strip() for c in cells["--n-blocks"]] == ["5", "3"] and "--seed" not in cells
    assert cells["critic gap"][1].strip() == "0.300" and cells["critic gap"][0].strip() == "—"
    assert cells["js1 last / best"][1].strip() == "0.150 / 0.100"  # run b: last, best
    same = invoke("compare", a, make_run(tmp_path, "c", RUN_B, seed=1))
    header = next(line for line in same.stdout.splitlines() if "┃" in line)
    assert header.split("┃")[2].strip() == "a" and header.split("┃")[3].strip() == "c"


def test_group_seeds_means_and_sample_sds(tmp_path: Path) -> None:
    resumed = [record(120, 100.0, [0.25, 0.30, 0.50, 0.70], word_validity=None)]
    seeds = [
        make_run(tmp_path, "s1", RUN_A, seed=1),
        make_run(tmp_path, "s2", RUN_B, seed=2),
        make_run(tmp_path, "s3", resumed, seed=3, iters=6),
    ]
    wide = make_run(tmp_path, "wide", RUN_B, seed=1, dim=16)
    rows = compare_runs([seeds[0], wide, seeds[1], seeds[2]], group_seeds=True)
    assert [row["runs"] for row in rows] == [[str(s) for s in seeds], [str(wide)]]
    assert [row["n"] for row in rows] == [3, 1]
    # seed is dropped; iters, which --resume may change, splits no group but shows both values
    assert rows[0]["options"] == {"dim": 8, "iters": [200_000, 6]}
    assert rows[1]["options"] == {"dim": 16, "iters": 200_000}
    by_hand = {
        "iterations": [100, 100, 120], "minutes": [1.5, 2.5, 100 / 60],
        "js1_last": [0.20, 0.15, 0.25], "js1_best": [0.20, 0.10, 0.25],
        "js4_best": [0.80, 0.75, 0.70], "word_validity": [0.5, 0.25],  # s3's None is skipped
        "critic_gap": [0.3],  # only s2 logs one: a mean, but no sd
    }  # fmt: skip
    for key, values in by_hand.items():
        assert rows[0][key] == pytest.approx(statistics.mean(values)), key
        sd = statistics.stdev(values) if len(values) > 1 else None
        assert rows[0][f"{key}_sd"] == pytest.approx(sd), key
    assert rows[1]["js1_best"] == pytest.approx(0.10) and rows[1]["js1_best_sd"] is None
    assert rows[0]["copied"] == 0.0 and rows[0]["copied_sd"] == 0.0
    alone = compare_runs([seeds[0]], group_seeds=True)[0]
    assert alone["options"] == {} and alone["critic_gap"] is alone["critic_gap_sd"] is None
    table = invoke("compare", seeds[0], seeds[1], wide, "--group-seeds")
    assert table.exit_code == 0, table.output
    assert "0.175±0.035 /" in table.stdout  # js1 last of s1, s2: mean 0.175, sd 0.025·√2


def test_a_schedule_splits_groups_and_older_runs_count_at_the_defaults(tmp_path: Path) -> None:
    """--lr-decay separates groups like the learning rates; a run written before an option
    existed (its config.json lacks the key) trained at that option's default and groups so."""
    new = make_run(tmp_path, "new", RUN_A, seed=1)
    old = make_run(tmp_path, "old", RUN_B, seed=2)
    config = json.loads((old / "config.json").read_text())
    del config["lr_decay"], config["g_ema"]
    (old / "config.json").write_text(json.dumps(config))
    decayed = make_run(tmp_path, "decayed", RUN_B, seed=1, lr_decay="linear")
    rows = compare_runs([new, old, decayed], group_seeds=True)
    assert [row["runs"] for row in rows] == [[str(new), str(old)], [str(decayed)]]
    assert [row["options"] for row in rows] == [{"lr_decay": "none"}, {"lr_decay": "linear"}]


def test_bad_runs_are_one_line_errors(tmp_path: Path) -> None:
    good = make_run(tmp_path, "good", RUN_A)
    (tmp_path / "plain").mkdir()
    assert_one_line_error(invoke("compare", good, tmp_path / "plain"), str(tmp_path / "plain"))
    missing = tmp_path / "missing"
    assert_one_line_error(invoke("compare", missing, "--json"), str(missing), "not a run")
    unevaluated = make_run(tmp_path, "unevaluated", [])
    assert_one_line_error(invoke("compare", good, unevaluated), str(unevaluated), "no evaluations")
    (unevaluated / "metrics.jsonl").unlink()
    assert_one_line_error(invoke("compare", unevaluated), str(unevaluated), "metrics.jsonl")


def test_compare_two_tiny_trained_runs(tiny_corpus: Path, tmp_path: Path) -> None:
    tiny = ["--dim", "8", "--n-blocks", "1", "--seq-len", "16", "--critic-iters", "1",
            "--batch-size", "8", "--iters", "4", "--eval-every", "2", "--eval-samples", "16",
            "--device", "cpu"]  # fmt: skip
    runs = [tmp_path / "seed1", tmp_path / "seed2"]
    for seed, run in enumerate(runs, 1):
        trained = invoke("train", tiny_corpus, *tiny, "--seed", seed, "--run-dir", run)
        assert trained.exit_code == 0, trained.output
    result = invoke("compare", *runs, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["options"] for row in rows] == [{"seed": 1}, {"seed": 2}]
    for row, run in zip(rows, runs, strict=True):
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [r["iteration"] for r in metrics] == [2, 4]
        assert row["runs"] == [str(run)] and row["iterations"] == 4
        assert row["minutes"] == pytest.approx(metrics[-1]["seconds"] / 60)
        assert row["js2_best"] == pytest.approx(min(r["js2"] for r in metrics))
        assert row["js3_last"] == metrics[-1]["js3"] and row["copied"] == metrics[-1]["copied"]
    grouped = json.loads(invoke("compare", *runs, "--json", "--group-seeds").stdout)
    assert len(grouped) == 1 and grouped[0]["n"] == 2 and grouped[0]["options"] == {}
    js1 = [row["js1_last"] for row in rows]
    assert grouped[0]["js1_last"] == pytest.approx(statistics.mean(js1))
    assert grouped[0]["js1_last_sd"] == pytest.approx(statistics.stdev(js1))


def test_compare_row_names_are_unique_and_each_figure_has_one_precision(tmp_path: Path) -> None:
    """Option rows are named as flags (--minutes, --iters), measured rows apart from them
    (minutes trained, iterations done); a missing value is —; js 1.0 is 1.000, not 1."""
    from textgan.cli.display import compare_rows

    whole = [record(100, 90.0, [1.0, 1.0, 1.0, 1.0])]
    a = make_run(tmp_path, "a", whole, minutes=5.0, iters=100)
    b = make_run(tmp_path, "b", RUN_B, iters=200, constraint="clip")
    config = json.loads((b / "config.json").read_text())
    (b / "config.json").write_text(json.dumps({**config, "corpus": "other.txt"}))
    for grouped in (False, True):
        rows = compare_runs([a, b], grouped)
        names = [name for _, _, name in compare_rows(rows, grouped)]
        assert len(names) == len(set(names)), names
        assert {"--iters", "CORPUS", "minutes trained", "iterations done"} <= set(names)
    names = {name for _, _, name in compare_rows(compare_runs([a, b]))}
    assert {"--minutes", "--gp-weight", "--clip"} <= names
    result = invoke("compare", a, b)
    assert result.exit_code == 0, result.output
    first = [line.split("│")[1].strip() for line in result.stdout.splitlines() if "│" in line]
    titles = [name for name in first if name]
    assert len(titles) == len(set(titles)), titles
    cells = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:4]]
             for line in result.stdout.splitlines() if "│" in line}  # fmt: skip
    assert cells["--minutes"] == ["5.0", "—"] and cells["--clip"] == ["—", "0.01"]
    assert cells["js4 last / best"][0] == "1.000 / 1.000"
    assert cells["minutes trained"] == ["1.50", "2.50"]
    assert cells["iterations done"] == ["100", "100"]
    assert cells["critic gap"] == ["—", "0.300"]
    assert "None" not in result.stdout


def test_a_language_models_held_out_bits_are_compared_last_and_best(tmp_path: Path) -> None:
    def lm_record(iteration: int, heldout_bpc: float) -> dict[str, Any]:
        return {k: v for k, v in record(iteration, 60.0, [0.2, 0.4, 0.6, 0.8]).items()
                if k not in ("critic_loss", "generator_loss", "wasserstein", "gp")} | {
            "train_bpc": 1.5, "heldout_bpc": heldout_bpc}  # fmt: skip

    lm = make_run(tmp_path, "lm", [lm_record(50, 2.4), lm_record(100, 2.1), lm_record(150, 2.6)],
                  loss="mle")  # fmt: skip
    gan = make_run(tmp_path, "gan", RUN_A)
    rows = compare_runs([lm, gan])
    assert (rows[0]["heldout_bpc_last"], rows[0]["heldout_bpc_best"]) == (2.6, 2.1)
    assert rows[1]["heldout_bpc_last"] is None and rows[1]["heldout_bpc_best"] is None
    result = invoke("compare", lm, gan)
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if "held-out bpc" in line)
    assert "2.600 / 2.100" in line and "— / —" in line
