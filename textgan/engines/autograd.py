"""The autograd engine: any generator and critic, any loss and constraint, through PyTorch's
autograd — the penalty by autograd.grad(create_graph=True), then one gradient of the whole
critic loss. Simple and readable: the reference the fused engine is held to."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from textgan.data.sampler import one_hot
from textgan.errors import TextganError
from textgan.objectives.losses import CriticLoss, Objective, critic_loss, generator_loss
from textgan.runtime.device import at_least_fp32, precision_name


class AutogradEngine:
    """A step's loss and named gradients by autograd; bf16 autocast when dtype is bf16."""

    name = "autograd"
    conv = None  # the models' own layers run; no conv implementation is chosen

    def __init__(
        self, generator: nn.Module, critic: nn.Module, objective: Objective, dtype: torch.dtype
    ) -> None:
        self.generator, self.critic = generator, critic
        self.objective, self.dtype = objective, dtype

    @property
    def precision(self) -> str:
        """bf16, tf32 or fp32: what its products run in now (device.precision_name)."""
        return precision_name(self.dtype, next(self.critic.parameters()).device)

    def generate(self, noise: torch.Tensor) -> torch.Tensor:
        """Noise (N, noise_dim) → per-position probabilities (N, L, V), fp32, no gradient."""
        with torch.no_grad(), self._autocast(noise.device):
            fake = self.generator(noise)
        return at_least_fp32(fake)

    def critic_grads(
        self, real_ids: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor
    ) -> tuple[CriticLoss, dict[str, torch.Tensor]]:
        """The critic's loss parts and its gradients by parameter name, for real ids (B, L),
        generated rows (B, L, V) and interpolation weights α (B,)."""
        real = one_hot(real_ids, fake.shape[-1], fake.dtype)  # (B, L, V)
        with self._autocast(fake.device):
            parts = critic_loss(self.critic, real, fake, alpha=alpha, objective=self.objective)
        grads = named_grads(parts.loss, self.critic, "critic")
        return CriticLoss(parts.loss.detach(), parts.wasserstein, parts.gp), grads

    def generator_grads(self, noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The generator's loss for noise (B, noise_dim) and its gradients by parameter name (the
        critic is scored through and gets none)."""
        with self._autocast(noise.device):
            loss = generator_loss(self.critic, self.generator(noise), self.objective)
        return loss.detach(), named_grads(loss, self.generator, "generator")

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.dtype != torch.bfloat16:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16)


def named_grads(loss: torch.Tensor, module: nn.Module, role: str) -> dict[str, torch.Tensor]:
    """d(loss)/d(parameter) for every trainable parameter of module, by name."""
    params = {name: p for name, p in module.named_parameters() if p.requires_grad}
    try:
        grads = torch.autograd.grad(loss, list(params.values()))
    except RuntimeError as err:
        if "appears to not have been used" not in str(err):
            raise
        raise TextganError(f"the {role} has parameters that do not take part in its loss: "
                           "every parameter must be trained") from err  # fmt: skip
    return dict(zip(params, grads, strict=True))
