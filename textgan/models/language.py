"""Character language models for --loss mle: the generator's residual conv stack made causal
(--lm conv) and a two-layer LSTM (--lm lstm).

A language model maps a line's ids (B, L) to logits (B, L, V): position t's from the ids
before t alone (a start symbol stands before the first), so one forward pass scores every
position by teacher forcing. Generation asks for one position at a time: decoder(n) returns a
step function, prev ids (n,) (None first) → the next position's logits (n, V), which carries
what it needs from the earlier steps (the convs' last inputs, the LSTM's state).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from textgan.config import LM_CHOICES, ModelConfig
from textgan.errors import TextganError
from textgan.models.resnet import RESIDUAL_SCALE, ConvLayer, init_weights

KERNEL = 5  # the generator's kernel width
LSTM_LAYERS = 2
Step = Callable[[torch.Tensor | None], torch.Tensor]  # prev ids (n,) or None → logits (n, V)


class CausalConv(ConvLayer):
    """A ConvLayer whose output at t sees its input at t−K+1..t only (zeros before the line)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, C_in) → (B, L, C_out)
        padded = F.pad(x, (0, 0, self.kernel - 1, 0))  # (B, K−1+L, C_in)
        weight = self.weight.permute(2, 1, 0).unsqueeze(2)  # (C_out, C_in, 1, K)
        if torch.is_autocast_enabled(x.device.type):
            weight = weight.to(torch.get_autocast_dtype(x.device.type))
        weight = weight.contiguous(memory_format=torch.channels_last)
        image = padded.transpose(1, 2).unsqueeze(2)  # (B, C_in, 1, K−1+L), channels-last
        return F.conv2d(image, weight, self.bias).squeeze(2).transpose(1, 2)  # (B, L, C_out)

    def step(self, window: torch.Tensor) -> torch.Tensor:  # (n, K, C_in) → (n, C_out)
        """The output at the last position of a window of the K latest inputs."""
        return window.flatten(1) @ self.weight.flatten(0, 1) + self.bias


class CausalBlock(nn.Module):
    """x + 0.3 · conv(relu(conv(relu(x)))) with causal convs, k=5, on rows (B, L, dim)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = CausalConv(dim, dim, KERNEL)
        self.conv2 = CausalConv(dim, dim, KERNEL)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, dim) → (B, L, dim)
        h = self.conv2(torch.relu(self.conv1(torch.relu(x))))
        return torch.add(x, h, alpha=RESIDUAL_SCALE)


class CausalConvLM(nn.Module):
    """Embedded previous characters (B, L, dim) → n_blocks causal residual blocks → a linear
    softmax head (B, L, V): the generator's stack, its input the line itself, shifted."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.start_id = config.vocab_size  # the start symbol: one embedding past the vocabulary
        self.embed = nn.Embedding(config.vocab_size + 1, config.dim)
        self.blocks = nn.Sequential(*(CausalBlock(config.dim) for _ in range(config.n_blocks)))
        self.head = nn.Linear(config.dim, config.vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, L) → (B, L, V)
        return self.head(self.blocks(self.embed(shifted(ids, self.start_id))))

    def decoder(self, n: int) -> Step:
        """One position at a time; each conv keeps a window of its K latest inputs."""
        dim, device = self.config.dim, self.head.weight.device
        windows = [torch.zeros(n, KERNEL, dim, device=device)  # (n, K, dim): zeros before t=0
                   for _ in range(2 * len(self.blocks))]  # fmt: skip

        def conv(index: int, layer: CausalConv, x: torch.Tensor) -> torch.Tensor:
            windows[index] = torch.cat([windows[index][:, 1:], x[:, None]], dim=1)
            return layer.step(windows[index])  # (n, dim)

        def step(prev: torch.Tensor | None) -> torch.Tensor:
            if prev is None:
                prev = torch.full((n,), self.start_id, dtype=torch.long, device=device)
            x = self.embed(prev)  # (n, dim)
            for i, block in enumerate(self.blocks):
                h = conv(2 * i + 1, block.conv2, torch.relu(conv(2 * i, block.conv1, x.relu())))
                x = torch.add(x, h, alpha=RESIDUAL_SCALE)
            return self.head(x)  # (n, V)

        return step


class LSTMLM(nn.Module):
    """The classic character LSTM: embedded previous characters → 2 LSTM layers of dim units
    → a linear softmax head (B, L, V)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.start_id = config.vocab_size
        self.embed = nn.Embedding(config.vocab_size + 1, config.dim)
        self.lstm = nn.LSTM(config.dim, config.dim, num_layers=LSTM_LAYERS, batch_first=True)
        self.head = nn.Linear(config.dim, config.vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, L) → (B, L, V)
        hidden, _ = self.lstm(self.embed(shifted(ids, self.start_id)))  # (B, L, dim)
        return self.head(hidden)

    def decoder(self, n: int) -> Step:
        """One position at a time, the LSTM's state carried from step to step."""
        state: list = [None]
        device = self.head.weight.device

        def step(prev: torch.Tensor | None) -> torch.Tensor:
            if prev is None:
                prev = torch.full((n,), self.start_id, dtype=torch.long, device=device)
            hidden, state[0] = self.lstm(self.embed(prev)[:, None], state[0])  # (n, 1, dim)
            return self.head(hidden[:, 0])  # (n, V)

        return step


def shifted(ids: torch.Tensor, start_id: int) -> torch.Tensor:  # (B, L) → (B, L)
    """The input of each position: the character before it (the start symbol at t=0)."""
    start = torch.full_like(ids[:, :1], start_id)
    return torch.cat([start, ids[:, :-1]], dim=1)


LANGUAGE_MODELS: dict[str, type[nn.Module]] = {
    "conv": CausalConvLM,
    "lstm": LSTMLM,
}  # by LM_CHOICES


def build_language_model(name: str, config: ModelConfig, seed: int = 0) -> nn.Module:
    """The built-in language model --lm names, initialised reproducibly from seed (convs and
    linear layers as the paper's generator; embeddings N(0, 1); the LSTM uniform ±1/√dim)."""
    if name not in LANGUAGE_MODELS:
        raise TextganError(f"--lm must be one of {', '.join(LM_CHOICES)}, got {name!r}")
    rng = torch.Generator().manual_seed(seed)
    model = LANGUAGE_MODELS[name](config)
    init_weights(model, rng)
    nn.init.normal_(model.embed.weight, generator=rng)
    if isinstance(model, LSTMLM):
        bound = config.dim**-0.5
        for weight in model.lstm.parameters():
            nn.init.uniform_(weight, -bound, bound, generator=rng)
    return model
