"""The language models: causal (position t sees only the characters before it), stepped one
position at a time exactly as they score a whole line, and built reproducibly."""

import pytest
import torch

from textgan.config import LM_CHOICES, ModelConfig
from textgan.errors import TextganError
from textgan.models.language import LANGUAGE_MODELS, build_language_model

CONFIG = ModelConfig(vocab_size=7, seq_len=10, dim=16, n_blocks=2)


def model(name: str, seed: int = 0) -> torch.nn.Module:
    return build_language_model(name, CONFIG, seed).eval()


@pytest.mark.parametrize("name", LM_CHOICES)
@pytest.mark.parametrize("t", [0, 4, 9])
def test_changing_character_t_leaves_the_logits_up_to_t_unchanged(name: str, t: int) -> None:
    lm = model(name)
    ids = torch.randint(0, 7, (3, 10), generator=torch.Generator().manual_seed(t))  # (B, L)
    changed = ids.clone()
    changed[:, t] = (ids[:, t] + 1) % 7
    before, after = lm(ids), lm(changed)  # (B, L, V)
    assert torch.equal(before[:, : t + 1], after[:, : t + 1])
    if t + 1 < 10:  # the next position does see it
        assert not torch.allclose(before[:, t + 1], after[:, t + 1])


@pytest.mark.parametrize("name", LM_CHOICES)
def test_the_decoder_steps_give_the_logits_of_the_whole_line(name: str) -> None:
    lm = model(name)
    ids = torch.randint(0, 7, (4, 10), generator=torch.Generator().manual_seed(1))
    step = lm.decoder(4)
    stepped = [step(None)] + [step(ids[:, t]) for t in range(9)]  # each (B, V)
    torch.testing.assert_close(torch.stack(stepped, dim=1), lm(ids), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", LM_CHOICES)
def test_a_seed_builds_the_same_weights(name: str) -> None:
    a, b, c = model(name, 3).state_dict(), model(name, 3).state_dict(), model(name, 4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_an_unknown_language_model_is_refused() -> None:
    with pytest.raises(TextganError, match="--lm must be one of conv, lstm"):
        build_language_model("gpt", CONFIG)


def test_every_lm_choice_is_a_built_in_model() -> None:
    assert tuple(LANGUAGE_MODELS) == LM_CHOICES
