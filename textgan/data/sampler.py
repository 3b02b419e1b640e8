"""Shuffled batches of encoded lines, kept on the training device."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from textgan.errors import TextganError
from textgan.training.streams import restore_generator


def one_hot(ids: torch.Tensor, vocab_size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(..., L) integer ids → (..., L, vocab_size) one-hot rows."""
    return F.one_hot(ids.long(), vocab_size).to(dtype)


class BatchSampler:
    """Endless shuffled batches of rows, reshuffled every epoch; the last partial batch is dropped.

    The whole encoded corpus lives on the device once (uint8/uint16 → int64 on the fly), so a
    step costs one gather, not a host → device copy. Its position can be saved and restored.
    """

    def __init__(self, ids: np.ndarray, batch_size: int, device: torch.device, seed: int) -> None:
        if len(ids) < batch_size:
            raise TextganError(
                f"the corpus has {len(ids)} lines, fewer than --batch-size {batch_size}"
            )
        self.rows = torch.from_numpy(np.ascontiguousarray(ids).astype(np.int64)).to(
            device
        )  # (N, L)
        self.batch_size = batch_size
        self.seed = seed
        self.rng = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(len(ids), generator=self.rng).to(device)  # (N,)
        self.position = 0

    def __len__(self) -> int:
        return len(self.rows)

    def next(self) -> torch.Tensor:
        """The next (batch_size, L) int64 id batch."""
        if self.position + self.batch_size > len(self.order):
            self.order = torch.randperm(len(self.rows), generator=self.rng).to(self.rows.device)
            self.position = 0
        index = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return self.rows[index]

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": self.rng.get_state(),
            "order": self.order.cpu(),
            "position": self.position,
            "num_rows": len(self.rows),
        }

    def load_state_dict(self, state: dict[str, Any], iteration: int = 0) -> str | None:
        """Continue from a saved position. A generator state saved on another device type is
        not set: the generator is re-seeded from (seed, iteration) and that device type returned
        (streams.restore_generator); None when the state was restored exactly."""
        if state["num_rows"] != len(self.rows):
            raise TextganError(
                f"the corpus has {len(self.rows)} lines but the run was trained on "
                f"{state['num_rows']}: resume with the same corpus"
            )
        self.order = state["order"].to(self.rows.device)
        self.position = int(state["position"])
        return restore_generator(self.rng, state["rng"], "data order", self.seed, iteration)
