"""--loss mle through the one loop: a language model learns (held-out bits per character fall),
checkpoints without a critic, resumes exactly, and a caller's model (the README's) trains."""

import math
import re
from pathlib import Path

import pytest
import torch

import textgan
from textgan import TrainConfig, train
from textgan.errors import TextganError
from textgan.evaluation.evaluator import Evaluator
from textgan.models.build import BUILTIN_LANGUAGE_MODELS
from textgan.rundir.checkpoint import load_checkpoint
from textgan.rundir.runlog import read_metrics
from textgan.training.state import build_state

README = Path(__file__).parents[2] / "README.md"
TINY = dict(loss="mle", dim=16, n_blocks=1, seq_len=12, batch_size=16, eval_samples=32,
            device="cpu", precision="fp32", lr=3e-3, betas=(0.9, 0.999))  # fmt: skip


def config(**overrides) -> TrainConfig:
    return TrainConfig(**{**TINY, "iters": 4, "checkpoint_every": 2, "eval_every": 2,
                          **overrides})  # fmt: skip


@pytest.mark.parametrize("lm", ["conv", "lstm"])
def test_maximum_likelihood_lowers_heldout_bits_per_character(
    tiny_corpus: Path, tmp_path: Path, lm: str
) -> None:
    run_config = config(lm=lm, iters=80, eval_every=40, checkpoint_every=80)
    state, encoded = build_state(run_config, tiny_corpus)
    untrained = Evaluator(encoded, 16, language_model=True).heldout_bpc(state.generator)
    assert untrained > 2.5  # about log2 of the vocabulary, and more
    train(run_config, tiny_corpus, tmp_path / "run")
    records = read_metrics(tmp_path / "run")
    assert [r["iteration"] for r in records] == [40, 80]
    assert records[1]["heldout_bpc"] < records[0]["heldout_bpc"] < untrained - 0.5
    assert all(r["train_bpc"] > 0 and "js4" in r and "quality" in r for r in records)
    assert not any(key.startswith("critic") or key == "wasserstein" for key in records[0])


def test_a_language_model_checkpoints_without_a_critic(tiny_corpus: Path, tmp_path: Path) -> None:
    started = []
    result = train(config(), tiny_corpus, tmp_path / "run", on_start=started.append)
    assert started[0].engine == "autograd" and "mle" in started[0].engine_reason
    saved = load_checkpoint(result.checkpoint)
    assert saved.critic is None and saved.opt_c is None
    assert saved.models == {"generator": BUILTIN_LANGUAGE_MODELS["conv"]}
    assert {
        k: saved.config[k]
        for k in ("critic_iters", "constraint", "gp_weight", "clip", "critic_norm", "lr_critic")
    } == dict.fromkeys(
        ("critic_iters", "constraint", "gp_weight", "clip", "critic_norm", "lr_critic")
    )
    assert saved.config["lm"] == "conv"
    assert len(textgan.sample(result.checkpoint, 3, seed=0)) == 3


@pytest.mark.parametrize("lm", ["conv", "lstm"])
def test_a_resumed_language_model_trains_exactly_as_one_run(
    tiny_corpus: Path, tmp_path: Path, lm: str
) -> None:
    straight = train(config(lm=lm, iters=6, g_ema=0.9, eval_every=3), tiny_corpus, tmp_path / "a")
    train(config(lm=lm, iters=3, g_ema=0.9, eval_every=3), tiny_corpus, tmp_path / "b")
    resumed = train(config(lm=lm, iters=6, g_ema=0.9, eval_every=3), tiny_corpus, tmp_path / "b",
                    resume=True)  # fmt: skip
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    for part in ("generator", "generator_ema"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    moments = zip(a.opt_g["state"].values(), b.opt_g["state"].values(), strict=True)
    assert all(torch.equal(x["exp_avg_sq"], y["exp_avg_sq"]) for x, y in moments)
    drop = ("seconds",)
    assert [
        {k: v for k, v in r.items() if k not in drop} for r in read_metrics(tmp_path / "a")
    ] == [{k: v for k, v in r.items() if k not in drop} for r in read_metrics(tmp_path / "b")]


def test_a_critic_or_critic_options_with_mle_are_refused(tiny_corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(TextganError, match="trains no critic"):
        train(config(), tiny_corpus, tmp_path / "r", critic=torch.nn.Linear(2, 1))
    with pytest.raises(TextganError, match="--critic-iters does not apply to --loss mle"):
        config(critic_iters=3)
    with pytest.raises(TextganError, match="--engine fused does not apply"):
        config(engine="fused")
    with pytest.raises(TextganError, match="--lm applies only to --loss mle"):
        TrainConfig(lm="lstm")
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def gru_class() -> type:
    """The GRULanguageModel class exactly as the README's "Maximum likelihood" section has it."""
    section = README.read_text(encoding="utf-8").split("## Maximum likelihood", 1)[1]
    code = next(b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "class " in b)
    namespace = {"__name__": "readme_lm"}
    exec(compile(code.split("config = ")[0], str(README), "exec"), namespace)
    return namespace["GRULanguageModel"]


def test_a_custom_language_model_trains_samples_and_resumes(
    tiny_corpus: Path, tmp_path: Path, gru_class: type
) -> None:
    run, make = tmp_path / "gru", lambda model: gru_class(model, hidden=16)
    result = train(config(), tiny_corpus, run, generator=make)
    saved = load_checkpoint(result.checkpoint)
    assert saved.models == {"generator": "readme_lm.GRULanguageModel"} and saved.critic is None
    assert all(math.isfinite(r["heldout_bpc"]) for r in read_metrics(run))
    lines = textgan.sample(run, 5, seed=1, generator=make)
    assert len(lines) == 5 and lines == textgan.sample(run, 5, seed=1, generator=make)
    assert train(config(iters=6), tiny_corpus, run, resume=True, generator=make).iteration == 6
    with pytest.raises(TextganError, match="GRULanguageModel"):
        textgan.sample(run, 2)


@pytest.mark.parametrize("lm", ["conv", "lstm"])
def test_a_language_model_trains_under_bf16_autocast(
    tiny_corpus: Path, tmp_path: Path, lm: str
) -> None:
    started, steps = [], []
    train(config(lm=lm, precision="bf16", iters=30, eval_every=0, checkpoint_every=30),
          tiny_corpus, tmp_path / "run", on_start=started.append, on_step=steps.append)  # fmt: skip
    assert started[0].precision == "bf16"
    bpc = [s.losses["train_bpc"] for s in steps]
    assert all(math.isfinite(b) for b in bpc) and sum(bpc[-5:]) < sum(bpc[:5])
