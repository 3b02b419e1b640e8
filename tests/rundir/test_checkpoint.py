import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SamplerAsSavedBefore, make_lines

from textgan import TrainConfig, sample, train
from textgan.config import ModelConfig
from textgan.data.corpus import encode_corpus
from textgan.errors import TextganError
from textgan.models.build import BUILTIN_MODELS, class_name
from textgan.models.resnet import build_models
from textgan.rundir.checkpoint import (
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from textgan.rundir.schema import FORMAT_VERSION, Checkpoint

CONFIG = TrainConfig(dim=8, n_blocks=1, seq_len=12, batch_size=16, critic_iters=1, iters=2,
                     checkpoint_every=1, device="cpu")  # fmt: skip


@pytest.fixture
def run(tiny_corpus: Path, tmp_path: Path) -> Path:
    return train(CONFIG, tiny_corpus, tmp_path / "run").checkpoint


def test_samples_are_the_same_after_save_and_load(run: Path, tmp_path: Path) -> None:
    saved = load_checkpoint(run)
    copy = tmp_path / "copy.pt"
    save_checkpoint(copy, Checkpoint(**saved))
    assert sample(run, 8, seed=3) == sample(copy, 8, seed=3) == sample(run.parent, 8, seed=3)
    assert sample(run, 8, seed=3) != sample(run, 8, seed=4)
    assert all(len(line) <= 12 for line in sample(run, 8, seed=3))


def test_no_temp_files_are_left_and_none_count_as_checkpoints(run: Path) -> None:
    (run.parent / ".ckpt-0000009.pt.abc.tmp").write_bytes(b"partial")
    assert [p.name for p in list_checkpoints(run.parent)] == ["ckpt-0000001.pt", "ckpt-0000002.pt"]


def test_prune_keeps_the_newest(run: Path) -> None:
    prune_checkpoints(run.parent, keep=1)
    assert list_checkpoints(run.parent) == [run]


def test_truncated_and_foreign_files_are_refused(run: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(run.read_bytes()[: run.stat().st_size // 2])
    with pytest.raises(TextganError, match="truncated or corrupt"):
        load_checkpoint(truncated)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(TextganError, match="not a textgan checkpoint"):
        load_checkpoint(other)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(TextganError):
        load_checkpoint(text)
    with pytest.raises(TextganError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_other_format_version_is_refused(run: Path, tmp_path: Path) -> None:
    payload = load_checkpoint(run).to_payload()
    payload["format_version"] = 999
    path = tmp_path / "future.pt"
    torch.save(payload, path)
    with pytest.raises(TextganError, match="another textgan version"):
        load_checkpoint(path)


def as_format_2(saved: Checkpoint) -> dict:
    """A checkpoint as format 2 wrote it: no model classes, and a config without the options
    that came with format 3 (a WGAN-GP run with Adam)."""
    new = ("loss", "constraint", "clip", "optimizer", "critic_norm", "engine")
    config = {k: v for k, v in saved["config"].items() if k not in new}
    payload = {k: v for k, v in saved.to_payload().items() if k != "models"}
    return {**payload, "format_version": 2, "config": config}


def test_format_2_checkpoints_resume_as_wgan_gp_runs(
    run: Path, tiny_corpus: Path, tmp_path: Path
) -> None:
    saved = load_checkpoint(run)
    old = written_as(as_format_2(saved), tmp_path / "old2" / run.name)
    upgraded = load_checkpoint(old)
    assert upgraded.to_payload()["format_version"] == FORMAT_VERSION
    assert upgraded["models"] == saved["models"] == BUILTIN_MODELS
    config = TrainConfig.from_dict(upgraded["config"])
    assert (config.loss, config.constraint, config.gp_weight) == ("wasserstein", "gp", 10.0)
    assert (config.optimizer, config.critic_norm) == ("adam", "none")
    assert_samples_and_resumes_as(old, run, tiny_corpus)


def written_as(payload: dict, path: Path) -> Path:
    """payload saved as the checkpoint `path` of a run dir of its own."""
    path.parent.mkdir()
    torch.save(payload, path)
    return path


def assert_samples_and_resumes_as(old: Path, run: Path, tiny_corpus: Path) -> None:
    """The upgraded checkpoint old samples what run's does, and its run resumes."""
    assert sample(old, 8, seed=3) == sample(run, 8, seed=3)
    assert train(replace(CONFIG, iters=3), tiny_corpus, old.parent, resume=True).iteration == 3


def test_builtin_model_names_are_the_classes_names() -> None:
    generator, critic = build_models(ModelConfig(vocab_size=5, seq_len=4, dim=2, n_blocks=1), 0)
    assert {"generator": class_name(generator), "critic": class_name(critic)} == BUILTIN_MODELS


def as_format_1(saved: Checkpoint) -> dict:
    """A checkpoint as format 1 wrote it: conv weights and their Adam moments (out, in, kernel)."""

    def old(tensors: dict) -> dict:
        return {
            k: v.permute(2, 1, 0).contiguous() if v.dim() == 3 else v for k, v in tensors.items()
        }

    payload = {**as_format_2(saved), "format_version": 1}
    for net, optimizer in (("generator", "opt_g"), ("critic", "opt_c")):
        payload[net] = old(saved[net])
        state = {i: old(moments) for i, moments in saved[optimizer]["state"].items()}
        payload[optimizer] = {**saved[optimizer], "state": state}
    return payload


def test_format_1_checkpoints_are_read_with_their_conv_weights_reordered(
    run: Path, tiny_corpus: Path, tmp_path: Path
) -> None:
    """A run saved by format 1 samples the same text and resumes with the same Adam moments."""
    saved = load_checkpoint(run)
    old = written_as(as_format_1(saved), tmp_path / "old" / run.name)
    upgraded = load_checkpoint(old)
    assert upgraded.to_payload()["format_version"] == FORMAT_VERSION
    for net, optimizer in (("generator", "opt_g"), ("critic", "opt_c")):
        for key, value in saved[net].items():
            assert torch.equal(upgraded[net][key], value), key
        for index, moments in saved[optimizer]["state"].items():
            for key, value in moments.items():
                assert torch.equal(upgraded[optimizer]["state"][index][key], value), (index, key)
    assert_samples_and_resumes_as(old, run, tiny_corpus)


def test_checkpoints_do_not_grow_with_the_corpus(tmp_path: Path) -> None:
    """The data order is saved as the generator's state at the start of its epoch, not as a
    permutation of every line: 100 times the lines, the same checkpoint size (up to a few
    bytes of pickled counts, which torch.save's 64-byte alignment may round to 64 more)."""
    sizes = []
    for name, lines in (("small", 300), ("large", 30_000)):
        corpus = tmp_path / name / "corpus.txt"
        corpus.parent.mkdir()
        corpus.write_text("\n".join(make_lines(lines)) + "\n")
        result = train(replace(CONFIG, iters=1, eval_every=0), corpus, tmp_path / name / "run")
        sizes.append(result.checkpoint.stat().st_size)
    assert abs(sizes[1] - sizes[0]) <= 64, sizes  # a permutation of 30,000 lines: 240 KB


def test_a_checkpoint_holding_the_whole_data_order_resumes_exactly(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """Checkpoints written before held the whole shuffled order (and the generator's state
    after drawing it); one resumes like an uninterrupted run, on into the next epoch."""
    config = replace(CONFIG, critic_iters=2, iters=10, checkpoint_every=6, eval_every=0)
    whole = train(config, tiny_corpus, tmp_path / "whole")
    train(replace(config, iters=6), tiny_corpus, tmp_path / "split")
    path = tmp_path / "split" / "ckpt-0000006.pt"
    saved = load_checkpoint(path)
    encoded = encode_corpus(tiny_corpus, config.seq_len, config.max_vocab,
                            holdout=config.holdout, seed=config.seed)  # fmt: skip
    before = SamplerAsSavedBefore(np.asarray(encoded.ids), config.batch_size, config.seed)
    for _ in range(6 * config.critic_iters):  # 12 of the epoch's 16 batches (270 lines)
        before.next()
    saved["rng"]["sampler"] = before.state_dict()
    save_checkpoint(path, saved)
    resumed = train(config, tiny_corpus, tmp_path / "split", resume=True)
    a, b = load_checkpoint(whole.checkpoint), load_checkpoint(resumed.checkpoint)
    for net in ("generator", "critic"):
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), key
    assert "order" not in b["rng"]["sampler"]  # a new epoch: saved compactly again


class _Exploit:
    def __reduce__(self):
        return (Path.touch, (Path(_Exploit.target),))


def test_a_pickle_that_runs_code_is_refused(tmp_path: Path) -> None:
    _Exploit.target = str(tmp_path / "pwned")
    path = tmp_path / "evil.pt"
    torch.save({"format": "textgan-checkpoint", "payload": _Exploit()}, path, pickle_module=pickle)
    with pytest.raises(TextganError, match="not a safe"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_format_3_checkpoints_load_as_the_gan_runs_they_are(
    run: Path, tiny_corpus: Path, tmp_path: Path
) -> None:
    """Format 3 predates language models (--lm) and --eval-temperature: its runs are GANs that
    sample and resume as before."""
    saved = load_checkpoint(run)
    config = {k: v for k, v in saved["config"].items() if k not in ("lm", "eval_temperature")}
    old = written_as({**saved.to_payload(), "format_version": 3, "config": config},
                     tmp_path / "old3" / run.name)  # fmt: skip
    upgraded = load_checkpoint(old)
    assert upgraded.to_payload()["format_version"] == FORMAT_VERSION == 4
    assert upgraded.critic is not None and TrainConfig.from_dict(upgraded.config).needs_critic
    assert_samples_and_resumes_as(old, run, tiny_corpus)
