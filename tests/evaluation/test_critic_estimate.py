"""The critic's estimate on training and held-out text: a tiny critic against a hand computation,
the batches it is scored on, and models left exactly as they were."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from textgan.config import ModelConfig
from textgan.evaluation.critic_estimate import CriticBatches, critic_estimates
from textgan.models.resnet import build_models
from textgan.objectives.constraints import spectral_normalize
from textgan.objectives.losses import Objective

L, V = 3, 4


class TableCritic(nn.Module):
    """D(x) = Σ_l Σ_v W[l, v]·x[l, v] + b: on a one-hot line, the sum of W at its characters."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.arange(L * V, dtype=torch.float32).view(L, V) / 10 - 0.5)
        self.bias = nn.Parameter(torch.tensor(0.25))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, V) → (B,)
        return (x * self.weight).sum(dim=(1, 2)) + self.bias


class UniformGenerator(nn.Module):
    """Every position the uniform distribution over V characters, whatever the noise (its argmax
    text would be all id 0, which the critic scores differently)."""

    noise_dim = 2

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, noise_dim) → (B, L, V)
        return torch.full((z.shape[0], L, V), 1 / V)


TRAIN = np.array([[0, 1, 2], [3, 3, 3], [1, 0, 2], [2, 2, 0]], dtype=np.uint8)  # (4, L)
HELDOUT = np.array([[3, 2, 1], [0, 0, 0], [1, 1, 1], [2, 3, 0], [3, 0, 1]], dtype=np.uint8)


def by_hand(lines: np.ndarray) -> np.ndarray:
    """D of each one-hot line: the table's entries at its characters, plus the bias."""
    weight = TableCritic().weight.detach().numpy()
    return np.array([sum(weight[pos, char] for pos, char in enumerate(line)) for line in lines])


@pytest.mark.parametrize("loss", ["wasserstein", "gan", "hinge"])
def test_estimates_match_a_hand_computation(loss: str) -> None:
    batches = CriticBatches.of(TRAIN, HELDOUT, 640, seed=0, vocab_size=V)  # n = 4: every line
    objective = Objective(loss, "none")
    estimates = critic_estimates(UniformGenerator(), TableCritic(), batches, objective, seed=5)
    weight = TableCritic().weight.detach().numpy()
    fake = weight.sum() / V + 0.25  # D of the soft uniform batch, the same for every row
    real_train, real_heldout = by_hand(TRAIN) + 0.25, by_hand(HELDOUT[:4]) + 0.25

    def estimate(real: np.ndarray) -> float:  # −(the critic's loss without a penalty)
        if loss == "wasserstein":
            return real.mean() - fake
        if loss == "gan":
            softplus = lambda v: np.log1p(np.exp(v))  # noqa: E731
            return -(softplus(-real).mean() + softplus(fake))
        return -(np.maximum(0, 1 - real).mean() + max(0, 1 + fake))

    assert estimates["critic_train"] == pytest.approx(estimate(real_train), abs=1e-6)
    assert estimates["critic_heldout"] == pytest.approx(estimate(real_heldout), abs=1e-6)
    assert estimates["critic_gap"] == estimates["critic_train"] - estimates["critic_heldout"]
    if loss == "wasserstein":  # E[D(train)] − E[D(held-out)]: the fake batch cancels
        gap = real_train.mean() - real_heldout.mean()
        assert estimates["critic_gap"] == pytest.approx(gap, abs=1e-6)


def test_the_batches_a_fixed_training_sample_and_the_first_held_out_lines() -> None:
    ids = np.arange(100, dtype=np.uint16)[:, None].repeat(L, axis=1)  # line i: i, i, i
    heldout = 1000 + np.arange(30, dtype=np.uint16)[:, None].repeat(L, axis=1)
    batches = CriticBatches.of(ids, heldout, 20, seed=7, vocab_size=2000)
    assert batches.train.shape == batches.heldout.shape == (20, L)
    assert batches.train.dtype == batches.heldout.dtype == torch.int64
    assert batches.heldout[:, 0].tolist() == list(range(1000, 1020))
    rows = batches.train[:, 0].tolist()
    assert len(set(rows)) == 20 and all(0 <= r < 100 for r in rows)
    assert rows != list(range(20))  # drawn, not the first lines
    assert torch.equal(CriticBatches.of(ids, heldout, 20, 7, 2000).train, batches.train)
    assert not torch.equal(CriticBatches.of(ids, heldout, 20, 8, 2000).train, batches.train)
    assert len(CriticBatches.of(ids, heldout, 640, 7, 2000).train) == 30  # held-out lines
    assert len(CriticBatches.of(ids[:10], heldout, 640, 7, 2000).heldout) == 10  # training lines


def test_the_generated_batch_is_seeded_per_evaluation() -> None:
    generator, critic = build_models(ModelConfig(V, L, dim=8, n_blocks=1), seed=0)
    batches = CriticBatches.of(TRAIN, HELDOUT, 4, seed=0, vocab_size=V)
    first = critic_estimates(generator, critic, batches, Objective(), seed=3)
    assert critic_estimates(generator, critic, batches, Objective(), seed=3) == first
    other = critic_estimates(generator, critic, batches, Objective(), seed=4)
    assert other["critic_train"] != first["critic_train"]
    assert other["critic_gap"] == pytest.approx(first["critic_gap"], abs=1e-6)  # Wasserstein


class RowBatchNorm(nn.BatchNorm1d):
    """Batch norm of channels-last rows (B, L, C), as the blocks pass them."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


@pytest.mark.parametrize("kind", ["spectral norm", "layer norm", "batch norm"])
def test_models_random_streams_and_modes_are_left_as_they_were(kind: str) -> None:
    """A spectral-norm critic keeps its power-iteration vectors, a batch-norm one its running
    statistics; no global random number is drawn; every submodule is back in its own mode."""
    norm = "layer" if kind == "layer norm" else "none"
    generator, critic = build_models(ModelConfig(V, L, dim=8, n_blocks=1, critic_norm=norm), 0)
    if kind == "spectral norm":
        spectral_normalize(critic, seed=0)
        critic(F.one_hot(torch.tensor(TRAIN).long(), V).float())  # u, v: one training forward
    if kind == "batch norm":
        critic.blocks[0].norm1 = RowBatchNorm(8)
    critic.fc.eval()  # a submodule in another mode than its parent stays so
    before = {k: v.clone() for k, v in critic.state_dict().items()}
    generator_before = {k: v.clone() for k, v in generator.state_dict().items()}
    rng_before = torch.get_rng_state()
    batches = CriticBatches.of(TRAIN, HELDOUT, 4, seed=0, vocab_size=V)
    critic_estimates(generator, critic, batches, Objective(), seed=3)
    after = critic.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before), kind
    assert all(torch.equal(generator_before[k], v) for k, v in generator.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert critic.training and generator.training and not critic.fc.training
    assert all(m.training for m in critic.blocks.modules())
