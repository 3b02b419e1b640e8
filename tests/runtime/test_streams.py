"""Random streams moved between device types: a CUDA generator's state is 16 bytes (Philox's
seed and offset), so checkpoints "saved on CUDA" are made here by rewriting a CPU run's states."""

from pathlib import Path

import pytest
import torch
from conftest import as_saved_on_cuda, cuda_state

from textgan import TrainConfig, train
from textgan.errors import TextganError
from textgan.rundir.checkpoint import load_checkpoint, save_checkpoint
from textgan.runtime.streams import (
    STATE_BYTES,
    restore_generator,
    saved_device_type,
    stream_seed,
)

TINY = dict(dim=8, n_blocks=1, seq_len=12, batch_size=16, critic_iters=2, device="cpu",
            eval_every=0, precision="fp32")  # fmt: skip


def test_a_state_of_the_same_format_is_restored_exactly() -> None:
    source = torch.Generator().manual_seed(7)
    torch.randn(3, generator=source)
    target = torch.Generator().manual_seed(99)
    assert restore_generator(target, source.get_state(), "noise", seed=0, iteration=5) is None
    assert torch.equal(torch.randn(4, generator=target), torch.randn(4, generator=source))


def test_a_state_of_another_device_type_reseeds_from_seed_iteration_and_stream() -> None:
    assert saved_device_type(cuda_state()) == "cuda" and cuda_state().numel() == STATE_BYTES["cuda"]
    assert saved_device_type(torch.Generator().get_state()) == "cpu"
    draws = {}
    for stream in ("noise", "interpolation"):
        generator = torch.Generator()
        assert restore_generator(generator, cuda_state(), stream, seed=3, iteration=10) == "cuda"
        draws[stream] = torch.randn(4, generator=generator)
        expected = torch.Generator().manual_seed(stream_seed(3, 10, stream))
        assert torch.equal(draws[stream], torch.randn(4, generator=expected))
    assert not torch.equal(draws["noise"], draws["interpolation"])
    seeds = {stream_seed(*key) for key in [(3, 10, "noise"), (4, 10, "noise"), (3, 11, "noise")]}
    assert len(seeds) == 3 and all(0 <= s < 2**63 for s in seeds)


def test_a_state_of_no_known_format_is_refused() -> None:
    for damaged in (torch.zeros(7, dtype=torch.uint8), torch.zeros(16), "state"):
        with pytest.raises(TextganError, match="noise random state is damaged"):
            restore_generator(torch.Generator(), damaged, "noise", seed=0, iteration=0)


def test_a_run_saved_on_cuda_resumes_on_cpu_reseeded_and_reproducibly(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    train(TrainConfig(**TINY, iters=2), tiny_corpus, tmp_path / "cpu")
    saved = load_checkpoint(tmp_path / "cpu" / "ckpt-0000002.pt")
    ends, infos = [], []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        save_checkpoint(tmp_path / name / "ckpt-0000002.pt", as_saved_on_cuda(saved))
        result = train(TrainConfig(**TINY, iters=4), tiny_corpus, tmp_path / name, resume=True,
                       on_start=infos.append)  # fmt: skip
        ends.append(load_checkpoint(result.checkpoint))
    assert [info.reseeded_from for info in infos] == ["cuda", "cuda"]
    assert ends[0]["iteration"] == 4
    for net in ("generator", "critic"):
        for key, value in ends[0][net].items():
            assert torch.equal(value, ends[1][net][key]), key
    assert ends[0]["rng"]["noise"].numel() == STATE_BYTES["cpu"]  # saved in this device's format


def test_a_run_resumed_on_the_same_device_type_says_nothing_was_reseeded(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    train(TrainConfig(**TINY, iters=2), tiny_corpus, tmp_path / "run")
    infos = []
    train(TrainConfig(**TINY, iters=3), tiny_corpus, tmp_path / "run", resume=True,
          on_start=infos.append)  # fmt: skip
    assert infos[0].reseeded_from is None


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_cpu_run_resumes_on_cuda_and_back(tiny_corpus: Path, tmp_path: Path) -> None:
    infos = []
    train(TrainConfig(**TINY, iters=2), tiny_corpus, tmp_path / "run")
    cuda = {**TINY, "device": "cuda"}
    train(TrainConfig(**cuda, iters=3), tiny_corpus, tmp_path / "run", resume=True,
          on_start=infos.append)  # fmt: skip
    train(TrainConfig(**TINY, iters=4), tiny_corpus, tmp_path / "run", resume=True,
          on_start=infos.append)  # fmt: skip
    assert [(i.device.type, i.reseeded_from) for i in infos] == [("cuda", "cpu"), ("cpu", "cuda")]
