"""Shared fixtures: tiny corpora written by the tests, devices, the real-text corpus dir; and
the CLI checks shared by test_cli.py and test_reliability.py."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from textgan.rundir.schema import Checkpoint
from textgan.runtime.device import CONV_IMPLS

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "and",
    "the",
    "dog",
    "ran",
    "to",
    "the",
    "park",
    "while",
    "birds",
    "sang",
    "over",
    "green",
    "hills",
    "near",
    "old",
    "towns",
    "where",
    "people",
    "walk",
    "every",
    "day",
]


def make_lines(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))) for _ in range(n)]


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text("\n".join(make_lines(300)) + "\n", encoding="utf-8")
    return path


# marked `cuda`, so `pytest -m cuda` selects (and --collect-only lists) them on any machine
NO_CUDA = not torch.cuda.is_available()
CUDA_MARKS = [pytest.mark.cuda, pytest.mark.skipif(NO_CUDA, reason="needs a CUDA device")]
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA_MARKS)]


@pytest.fixture(autouse=True)
def backend_settings_restored() -> Iterator[None]:
    """Training sets process-wide backend flags (TF32 in cuBLAS and cuDNN, cuDNN's benchmark
    mode): every test leaves them as it found them."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    benchmark = torch.backends.cudnn.benchmark
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn
    torch.backends.cudnn.benchmark = benchmark


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.param)


@pytest.fixture(params=CONV_IMPLS)
def conv_impl(request: pytest.FixtureRequest) -> str:
    """Each way the training convs can run (both must compute the same thing everywhere)."""
    return request.param


@pytest.fixture
def corpora_dir() -> Path:
    """$TEXTGAN_CORPORA: skip when unset, fail when set but unreadable."""
    value = os.environ.get("TEXTGAN_CORPORA")
    if not value:
        pytest.skip("TEXTGAN_CORPORA is not set")
    path = Path(value)
    for name in ("billion_words_train.txt", "billion_words_heldout.txt"):
        if not os.access(path / name, os.R_OK):
            pytest.fail(f"TEXTGAN_CORPORA={value} but {path / name} is not readable")
    return path


def assert_one_line_error(result, *fragments: str) -> None:
    """A CliRunner result that failed the way every user error must: exit 2, one stderr line."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def assert_train_refused(corpus: Path, run: Path, args: list[str], *fragments: str) -> None:
    """`textgan train CORPUS --run-dir RUN ARGS` fails as a user error must (one line, exit 2)
    and writes no run."""
    from typer.testing import CliRunner

    from textgan.cli.app import app

    result = CliRunner().invoke(app, ["train", str(corpus), "--run-dir", str(run), *args])
    assert_one_line_error(result, *fragments)
    assert not run.exists()


def tree_hash(root: Path) -> str:
    """One digest of every path and file content under root (to prove nothing was touched)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def simplex_batch(b: int, length: int, v: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(b, length, v, generator=g, dtype=dtype) * 3, dim=-1)


def one_hot_batch(b: int, length: int, v: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, v, (b, length), generator=g)
    return torch.nn.functional.one_hot(ids, v).to(dtype)


def linear_critic(weight: torch.Tensor):
    return lambda x: (x * weight).sum(dim=(1, 2))  # D(x) = <W, x>, ∇D = W everywhere


def cuda_state(seed: int = 0) -> torch.Tensor:
    """A generator state in CUDA's format: Philox's (seed, offset), two 64-bit ints, as 16 bytes."""
    return torch.tensor([seed, 4], dtype=torch.int64).view(torch.uint8)  # (16,)


def as_saved_on_cuda(saved: Checkpoint) -> Checkpoint:
    """A loaded checkpoint's payload as a CUDA run would hold it: noise and interpolation states
    of CUDA generators. The data order's generator is a CPU one on every device; it is rewritten
    too, so that every saved state is checked before it is set."""
    rng = saved["rng"]
    key = "epoch_rng" if "epoch_rng" in rng["sampler"] else "rng"  # else the whole order's
    sampler = {**rng["sampler"], key: cuda_state(3)}
    return replace(saved, rng={**rng, "noise": cuda_state(1), "alpha": cuda_state(2),
                               "sampler": sampler})  # fmt: skip


class SamplerAsSavedBefore:
    """The sampler as it was when checkpoints held the whole order: int64 rows and order, the
    generator's state after drawing it; the states it saves are what such checkpoints hold."""

    def __init__(self, ids: np.ndarray, batch_size: int, seed: int) -> None:
        self.rows = torch.from_numpy(ids.astype(np.int64))
        self.batch_size = batch_size
        self.rng = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(len(ids), generator=self.rng)
        self.position = 0

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > len(self.order):
            self.order = torch.randperm(len(self.rows), generator=self.rng)
            self.position = 0
        index = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return self.rows[index]

    def state_dict(self) -> dict:
        return {"rng": self.rng.get_state(), "order": self.order.clone(),
                "position": self.position, "num_rows": len(self.rows)}  # fmt: skip
