"""Ancestral sampling: the frequencies of the softmax at the temperature, greedy at 0, the same
draws stepped or recomputed, and a line that ends at its first padding."""

import pytest
import torch
from torch import nn

from textgan.config import ModelConfig
from textgan.data.vocab import PAD_ID
from textgan.errors import TextganError
from textgan.evaluation.ancestral import ancestral_ids
from textgan.models.language import build_language_model, shifted

V = 4


class Bigram(nn.Module):
    """A tiny language model: position t's logits are a row of a table, chosen by the
    character before t (the start symbol: row V)."""

    def __init__(self) -> None:
        super().__init__()
        logits = torch.tensor([[0.0, 0.0, 0.0, 0.0]] + [[-9.0, 0.3, -0.4, 1.0]] * 3
                              + [[-9.0, 1.2, 0.1, -0.5]])  # fmt: skip
        self.table = nn.Parameter(logits)  # (V + 1, V): no padding drawn after the start

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, L) → (B, L, V)
        return self.table[shifted(ids, V)]


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_draws_match_the_softmax_at_the_temperature(temperature: float) -> None:
    model, n = Bigram(), 40_000
    ids = ancestral_ids(model, n, 2, seed=0, temperature=temperature)  # (n, 2)
    table = model.table.detach()
    first = torch.bincount(ids[:, 0], minlength=V) / n
    expected = torch.softmax(table[V] / temperature, dim=-1)
    assert (first - expected).abs().max() < 0.01  # sd ≤ 0.0025 for each share
    second = torch.bincount(ids[:, 1], minlength=V) / n  # after 1, 2 or 3: the same row
    expected = torch.softmax(table[1] / temperature, dim=-1)
    assert (second - expected).abs().max() < 0.01


def test_temperature_0_is_greedy() -> None:
    ids = ancestral_ids(Bigram(), 5, 3, seed=0, temperature=0)
    assert ids.tolist() == [[1, 3, 3]] * 5


class WithoutDecoder(nn.Module):
    """A built-in model seen as a caller's: no decoder, so every position is recomputed."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.inner(ids)


@pytest.mark.parametrize("name", ["conv", "lstm"])
def test_stepped_and_recomputed_sampling_draw_the_same_lines(name: str) -> None:
    lm = build_language_model(name, ModelConfig(vocab_size=6, seq_len=8, dim=8, n_blocks=1), 2)
    stepped = ancestral_ids(lm, 300, 8, seed=5, temperature=1.0)
    recomputed = ancestral_ids(WithoutDecoder(lm), 300, 8, seed=5, temperature=1.0)
    assert torch.equal(stepped, recomputed)
    assert len({tuple(row) for row in stepped.tolist()}) > 100  # draws, not one line


def test_a_line_ends_at_its_first_padding() -> None:
    model = Bigram()
    with torch.no_grad():
        model.table[1:V] = torch.tensor([5.0, -9.0, -9.0, -9.0])  # after a character: padding
        model.table[PAD_ID] = torch.tensor([-9.0, 5.0, -9.0, -9.0])  # after padding: a "1"
    ids = ancestral_ids(model, 10, 4, seed=0, temperature=1.0)
    assert (ids[:, 1:] == PAD_ID).all() and (ids[:, 0] != PAD_ID).all()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TextganError, match="-n must be"):
        ancestral_ids(Bigram(), 0, 3)
    with pytest.raises(TextganError, match="--temperature must be >= 0"):
        ancestral_ids(Bigram(), 3, 3, temperature=-1)
