"""The fused engine: the critic's and generator's gradients of the built-in conv ResNets, by
hand, with the buffers and weight matrices it keeps from step to step."""

from __future__ import annotations

import torch

from textgan.config import TrainConfig
from textgan.engines.fused.critic import CriticWeights, critic_loss_and_grads
from textgan.engines.fused.generator import (
    GeneratorWeights,
    generate,
    generator_loss_and_grads,
)
from textgan.engines.fused.residual import StackBuffers, named_stack_grads, stack_buffers
from textgan.models.resnet import Critic, Generator
from textgan.objectives.losses import CriticLoss, Objective
from textgan.runtime.device import precision_name


def fused_refusal(
    config: TrainConfig, generator: object = None, critic: object = None
) -> str | None:
    """Why the fused engine cannot train this configuration, or None when it can: it derives
    the gradients of the built-in models (None: those), for every loss whose registry entry has
    the derivatives by the scores and every constraint whose entry says it runs fused."""
    if any(m is not None and type(m) not in (Generator, Critic) for m in (generator, critic)):
        return "it runs only the built-in models, not custom ones"
    objective = config.objective()
    if not objective.constraint_entry.fused:
        return f"it has no --constraint {config.constraint} ({objective.constraint_entry.summary})"
    if objective.loss_entry.critic_term_grads is None:
        return f"it has no derivatives of --loss {config.loss}"
    if config.critic_norm != "none":
        return f"it has no --critic-norm {config.critic_norm}"
    return None


def gradient_names(net: Generator | Critic) -> set[str]:
    """The names of the gradients the fused engine hands back for net: its head and tail
    layers' and, under named_stack_grads' names, its blocks' convs'."""
    convs = 2 * len(net.blocks)
    stack = named_stack_grads([None] * convs, [None] * convs).keys()
    ends = ("fc", "out") if isinstance(net, Generator) else ("inp", "fc")
    return {f"{layer}.{part}" for layer in ends for part in ("weight", "bias")} | set(stack)


def check_gradient_names(generator: Generator, critic: Critic) -> None:
    """The gradients' names are exactly the models' parameter names: a model renamed or
    extended without its hand-derived gradients is refused when the engine is built, not at the
    first step."""
    for role, net in (("generator", generator), ("critic", critic)):
        params = {name for name, p in net.named_parameters() if p.requires_grad}
        if params != (names := gradient_names(net)):
            raise RuntimeError(f"the fused engine's {role} gradients {sorted(names - params)} "
                               f"do not match its parameters {sorted(params - names)}")  # fmt: skip


class FusedEngine:
    """Computes a step's loss and named gradients for a Generator and a Critic; their buffers
    (per network, row count and whether a backward runs) and their weights as compute-dtype
    matrices (refreshed in place from the parameters at each use) are made once and kept."""

    name = "fused"

    def __init__(
        self,
        generator: Generator,
        critic: Critic,
        objective: Objective,
        dtype: torch.dtype,
        conv: str = "im2col",
    ) -> None:
        """objective: any loss, with a penalty (gp, lp) or none; dtype: of the
        matrix products (weights, optimiser state and losses stay fp32); conv: how the convs
        run (conv.CONV_IMPLS)."""
        check_gradient_names(generator, critic)
        self.generator, self.critic, self.objective = generator, critic, objective
        self.dtype, self.conv = dtype, conv
        self.buffers: dict[tuple[str, int, bool], StackBuffers] = {}
        self._critic_matrices: CriticWeights | None = None
        self._generator_matrices: dict[bool, GeneratorWeights] = {}  # by: with backward matrices

    @property
    def precision(self) -> str:
        """bf16, tf32 or fp32: what its products run in now (device.precision_name)."""
        return precision_name(self.dtype, self.critic.fc.weight.device)

    def generate(self, noise: torch.Tensor) -> torch.Tensor:
        """Noise (N, noise_dim) → softmax rows (N, L, V), fp32, with no gradient."""
        buffers = self._stack_buffers(self.generator, noise.shape[0], backward=False)
        return generate(self._generator_weights(backward=False), noise, buffers)

    def critic_grads(
        self, real_ids: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor
    ) -> tuple[CriticLoss, dict[str, torch.Tensor]]:
        """The critic's loss parts and its gradients by parameter name, for real ids (B, L),
        generated rows (B, L, V) and interpolation weights α (B,)."""
        rows = (3 if self.objective.penalty else 2) * real_ids.shape[0]  # real, fake (, x̂)
        buffers = self._stack_buffers(self.critic, rows)
        return critic_loss_and_grads(self.critic, real_ids, fake, alpha, self.objective,
                                     dtype=self.dtype, buffers=buffers,
                                     weights=self._critic_weights())  # fmt: skip

    def generator_grads(self, noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The generator's loss (the objective's generator term) for noise (B, noise_dim) and its
        gradients by parameter name (the critic gets none)."""
        batch = noise.shape[0]
        buffers = self._stack_buffers(self.generator, batch)
        scoring = self._stack_buffers(self.critic, batch)
        critic, generator = self._critic_weights(), self._generator_weights()
        return generator_loss_and_grads(self.generator, critic, noise, buffers=buffers,
                                        critic_buffers=scoring, weights=generator,
                                        objective=self.objective)  # fmt: skip

    def _stack_buffers(
        self, net: Generator | Critic, rows: int, backward: bool = True
    ) -> StackBuffers:
        key = ("critic" if net is self.critic else "generator", rows, backward)
        if key not in self.buffers:
            self.buffers[key] = stack_buffers(net, rows, self.dtype, backward, self.conv)
        return self.buffers[key]

    def _critic_weights(self) -> CriticWeights:
        if self._critic_matrices is None:
            self._critic_matrices = CriticWeights.of(self.critic, self.dtype, self.conv)
            return self._critic_matrices
        return self._critic_matrices.load()

    def _generator_weights(self, backward: bool = True) -> GeneratorWeights:
        """backward=False: without the backward matrices, for sampling."""
        if backward not in self._generator_matrices:
            matrices = GeneratorWeights.of(self.generator, self.dtype, backward, self.conv)
            self._generator_matrices[backward] = matrices
            return matrices
        return self._generator_matrices[backward].load()
