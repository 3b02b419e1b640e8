"""Shared fixtures: tiny corpora written by the tests, devices, the real-text corpus dir."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import torch

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


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> torch.device:
    return torch.device(request.param)


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
