"""The critic's estimate on training text and on held-out text, against the same generated batch:
the paper's loss curve for spotting an overfitting critic (Gulrajani et al. 2017, "Meaningful loss
curves and detecting overfitting")."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from textgan.data.sampler import one_hot
from textgan.objectives.losses import Objective
from textgan.rundir import records
from textgan.runtime.streams import seed_of

SCORE_CHUNK = 256  # rows per critic or generator call (bounds the activations' memory)


@dataclass(frozen=True)
class CriticBatches:
    """The real text a run's critic is scored on at every evaluation, chosen once per run."""

    train: torch.Tensor  # (n, L) int64 ids: a fixed sample of n training lines
    heldout: torch.Tensor  # (n, L) int64 ids: the first n held-out lines
    vocab_size: int

    @classmethod
    def of(
        cls, ids: np.ndarray, heldout_ids: np.ndarray, n: int, seed: int, vocab_size: int
    ) -> CriticBatches:
        """n = min(n, held-out lines, training lines); the training lines are a sample without
        replacement drawn from their own generator, seeded by the run's seed."""
        n = min(n, len(heldout_ids), len(ids))
        rng = np.random.default_rng(seed_of(seed, "critic's lines"))
        rows = np.sort(rng.choice(len(ids), size=n, replace=False))  # sorted: memory-map reads
        train = torch.from_numpy(np.asarray(ids[rows]).astype(np.int64))  # (n, L)
        heldout = torch.from_numpy(np.asarray(heldout_ids[:n]).astype(np.int64))  # (n, L)
        return cls(train, heldout, vocab_size)


@torch.no_grad()
def critic_estimates(
    generator: nn.Module,
    critic: nn.Module,
    batches: CriticBatches,
    objective: Objective,
    seed: int,
) -> dict[str, float]:
    """critic_train and critic_heldout: −(the critic's loss without any penalty) on the training
    and on the held-out batch against one batch of n generated soft sequences (the generator's
    probabilities, noise from a generator seeded by seed) — for the Wasserstein loss
    E[D(real)] − E[D(fake)]; and critic_gap = critic_train − critic_heldout (> 0: the critic
    scores the text it trains on higher than unseen text, it overfits).

    Both models run in eval mode (a spectral-norm critic keeps its power-iteration vectors),
    under no_grad, one batch per call, and are put back in the modes they were in; no random
    stream of the run is drawn from."""
    device = next(critic.parameters()).device
    n = len(batches.train)
    rng = torch.Generator(device=device).manual_seed(seed)
    noise = torch.randn(n, generator.noise_dim, generator=rng, device=device)  # (n, noise_dim)
    with evaluation_mode(generator, critic):
        fake = torch.cat([critic(generator(z)) for z in noise.split(SCORE_CHUNK)])  # (n,)
        train = _scores(critic, batches.train, batches.vocab_size, device)  # (n,)
        heldout = _scores(critic, batches.heldout, batches.vocab_size, device)  # (n,)
    on_train = -objective.critic_term(train, fake).item()
    on_heldout = -objective.critic_term(heldout, fake).item()
    return {records.CRITIC_TRAIN: on_train, records.CRITIC_HELDOUT: on_heldout,
            records.CRITIC_GAP: on_train - on_heldout}  # fmt: skip


def _scores(
    critic: nn.Module, ids: torch.Tensor, vocab_size: int, device: torch.device
) -> torch.Tensor:
    """The critic's scores (n,) of real lines (n, L) as one-hot rows, a chunk per call."""
    chunks = [critic(one_hot(chunk.to(device), vocab_size)) for chunk in ids.split(SCORE_CHUNK)]
    return torch.cat(chunks)


@contextlib.contextmanager
def evaluation_mode(*modules: nn.Module) -> Iterator[None]:
    """modules (and all their submodules) in eval mode for the block, then each submodule back
    in its own earlier mode."""
    modes = [(m, m.training) for module in modules for m in module.modules()]
    for module in modules:
        module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training
