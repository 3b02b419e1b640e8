"""The engine of a run that trains no critic (--loss mle): a language model's teacher-forced
cross-entropy and its gradients by autograd, in bf16 autocast where the precision says bf16 (as
the GAN's autograd engine)."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from textgan.engines.autograd import named_grads
from textgan.objectives.likelihood import cross_entropy
from textgan.runtime.device import precision_name


class LanguageModelEngine:
    """A language model's loss and named gradients on a batch of real lines."""

    name = "autograd"
    conv = None  # the model's own layers run

    def __init__(self, model: nn.Module, dtype: torch.dtype) -> None:
        self.model, self.dtype = model, dtype

    @property
    def precision(self) -> str:
        """bf16, tf32 or fp32: what its products run in now (device.precision_name)."""
        return precision_name(self.dtype, next(self.model.parameters()).device)

    def grads(self, ids: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The mean cross-entropy in nats of real ids (B, L), every position (padding
        included) predicted from the ones before it, and its gradients by parameter name."""
        autocast = (torch.autocast(ids.device.type, dtype=torch.bfloat16)
                    if self.dtype == torch.bfloat16 else contextlib.nullcontext())  # fmt: skip
        with autocast:
            logits = self.model(ids)  # (B, L, V)
        loss = cross_entropy(logits, ids)
        return loss.detach(), named_grads(loss, self.model, "language model")
