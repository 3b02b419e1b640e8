"""How each kind of run generates text at a temperature, looked up by the run's kind.

A kind's loader takes a loaded checkpoint and a device and returns a Sampler: (n, seed,
temperature) → (n, seq_len) ids in the run's vocabulary, the same ids for the same arguments.
A new kind of run (say, a language model that samples ancestrally) is one loader and one entry in
SAMPLERS, and one rule in run_kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from textgan.config import TrainConfig
from textgan.errors import TextganError
from textgan.evaluation.ancestral import ancestral_ids
from textgan.evaluation.sampling import generate_ids, load_generator

Sampler = Callable[[int, int, float], np.ndarray]


def gan_sampler(checkpoint: dict[str, Any], device: torch.device | str) -> Sampler:
    """A GAN's generator: one noise draw per sample, then the argmax of its softmax at
    temperature 0, else a draw from the softmax of its logits / temperature at each position."""
    generator, _ = load_generator(checkpoint, device)

    def generate(n: int, seed: int, temperature: float) -> np.ndarray:
        return generate_ids(generator, n, seed, temperature).numpy()  # (n, L)

    return generate


def language_model_sampler(checkpoint: dict[str, Any], device: torch.device | str) -> Sampler:
    """A language model (--loss mle): ancestral sampling, character by character, at the
    temperature (0 = greedy)."""
    model, _ = load_generator(checkpoint, device)
    length = checkpoint["model"]["seq_len"]

    def generate(n: int, seed: int, temperature: float) -> np.ndarray:
        return ancestral_ids(model, n, length, seed, temperature).numpy()  # (n, L)

    return generate


SAMPLERS: dict[str, Callable[[dict[str, Any], torch.device | str], Sampler]] = {
    "gan": gan_sampler,
    "lm": language_model_sampler,
}


def run_kind(checkpoint: dict[str, Any]) -> str:
    """The kind of run a loaded checkpoint comes from, by its config (TrainConfig.run_kind):
    "gan", or "lm" for a language model."""
    return TrainConfig.from_dict(checkpoint["config"]).run_kind


def load_sampler(checkpoint: dict[str, Any], device: torch.device | str) -> Sampler:
    """The Sampler of a loaded checkpoint's run, its model on device."""
    kind = run_kind(checkpoint)
    if kind not in SAMPLERS:
        raise TextganError(f"cannot generate from a run of kind {kind!r}")
    return SAMPLERS[kind](checkpoint, device)
