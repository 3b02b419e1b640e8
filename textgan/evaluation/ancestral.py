"""Ancestral sampling from a language model: character by character, each drawn from the
softmax of the model's logits / temperature given the ones drawn before (0: the argmax, greedy).
A line ends at its first padding: the positions after it are padding too."""

from __future__ import annotations

import torch
from torch import nn

from textgan.data.vocab import PAD_ID
from textgan.errors import TextganError
from textgan.models.language import Step

CHUNK = 256  # samples drawn together


def sampling_rng(
    device: torch.device, n: int, temperature: float, seed: int | None
) -> torch.Generator:
    """The random generator of a sampling call on device (seed None: a fresh seed), after
    checking its count and temperature."""
    if n <= 0:
        raise TextganError(f"-n must be a positive number of samples, got {n}")
    if temperature < 0:
        raise TextganError(f"--temperature must be >= 0, got {temperature}")
    rng = torch.Generator(device=device)
    if seed is None:
        rng.seed()
    else:
        rng.manual_seed(seed)
    return rng


@torch.no_grad()
def ancestral_ids(
    model: nn.Module, n: int, length: int, seed: int | None = None, temperature: float = 1.0
) -> torch.Tensor:
    """(n, length) ids drawn from a language model (ids (B, L) → logits (B, L, V), position t's
    from the ids before t). A model with a decoder(n) (the built-in ones) is stepped one position
    at a time; any other is run on the whole line at every position, the undrawn ones
    placeholders it cannot see. The model runs in eval mode (and is put back as it was)."""
    rng = sampling_rng(next(model.parameters()).device, n, temperature, seed)
    training = model.training
    model.eval()
    chunks = [_draw(model, min(CHUNK, n - start), length, temperature, rng)
              for start in range(0, n, CHUNK)]  # fmt: skip
    model.train(training)
    return torch.cat(chunks).cpu()


def _draw(
    model: nn.Module, n: int, length: int, temperature: float, rng: torch.Generator
) -> torch.Tensor:
    ids = torch.full((n, length), PAD_ID, dtype=torch.long, device=rng.device)  # (n, L)
    decoder = getattr(model, "decoder", None)
    step = decoder(n) if callable(decoder) else _recomputing(model, ids)
    ended = torch.zeros(n, dtype=torch.bool, device=ids.device)  # (n,): padding drawn before
    prev = None
    for t in range(length):
        drawn = decode_step(step(prev).float(), temperature, rng)  # (n,)
        ended |= drawn == PAD_ID
        ids[:, t] = drawn.masked_fill(ended, PAD_ID)
        prev = drawn
    return ids


def decode_step(logits: torch.Tensor, temperature: float, rng: torch.Generator) -> torch.Tensor:
    """(n, V) logits → (n,) ids: the argmax at temperature 0, else a draw from the softmax of
    logits / temperature."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / temperature, dim=-1)  # (n, V)
    return torch.multinomial(probs, 1, generator=rng)[:, 0]


def _recomputing(model: nn.Module, ids: torch.Tensor) -> Step:
    """A step for a model without a decoder: the whole line through it, the next position read
    (the ids drawn so far are written into ids between steps)."""
    positions = iter(range(ids.shape[1]))

    def step(prev: torch.Tensor | None) -> torch.Tensor:
        return model(ids)[:, next(positions)]  # (n, V)

    return step
