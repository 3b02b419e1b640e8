"""Shuffled batches of encoded lines, kept on the training device."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from textgan.errors import TextganError
from textgan.runtime.streams import restore_generator


def one_hot(ids: torch.Tensor, vocab_size: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(..., L) integer ids → (..., L, vocab_size) one-hot rows."""
    return F.one_hot(ids.long(), vocab_size).to(dtype)


def device_rows(ids: np.ndarray, device: torch.device) -> torch.Tensor:
    """The (N, L) ids on the device in their own dtype (uint8/uint16), no wider.

    On the CPU the tensor shares the array's memory (a cache's read-only memory map is never
    written through it), so the corpus is not held twice.
    """
    ids = np.ascontiguousarray(ids)
    if ids.dtype == np.uint16:  # gathers have no uint16 kernels everywhere: int16 bits, widened
        ids = ids.view(np.int16)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(ids).to(device)  # (N, L)


class BatchSampler:
    """Endless shuffled batches of rows, reshuffled every epoch; the last partial batch is dropped.

    The whole encoded corpus lives on the device once, in its cache's dtype (1 or 2 bytes an
    id); only a batch is widened to int64, so a step costs one gather, not a host → device copy.
    Its position is saved as the generator's state at the start of the epoch and the position
    in it: a few KiB, whatever the corpus's size, from which the epoch's order is drawn again.
    """

    def __init__(self, ids: np.ndarray, batch_size: int, device: torch.device, seed: int) -> None:
        if len(ids) < batch_size:
            raise TextganError(
                f"the corpus has {len(ids)} lines, fewer than --batch-size {batch_size}"
            )
        self.rows = device_rows(ids, device)  # (N, L) uint8, or uint16 ids as int16 bits
        self.batch_size = batch_size
        self.seed = seed
        self.rng = torch.Generator().manual_seed(seed)
        self._new_epoch()

    def __len__(self) -> int:
        return len(self.rows)

    def _new_epoch(self) -> None:
        self.epoch_state: torch.Tensor | None = self.rng.get_state()
        self.order = self._draw_order()
        self.position = 0

    def _draw_order(self) -> torch.Tensor:
        # int32 draws the same permutation as int64 from the same state, in half the memory
        dtype = torch.int32 if len(self.rows) < 2**31 else torch.int64
        order = torch.randperm(len(self.rows), generator=self.rng, dtype=dtype)  # (N,)
        return order.to(self.rows.device)

    def next(self) -> torch.Tensor:
        """The next (batch_size, L) int64 id batch."""
        if self.position + self.batch_size > len(self.order):
            self._new_epoch()
        index = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        batch = self.rows[index].long()  # (B, L)
        return batch & 0xFFFF if self.rows.dtype == torch.int16 else batch

    def state_dict(self) -> dict[str, Any]:
        if self.epoch_state is None:  # restored from a whole order: saved whole until it ends
            return {"rng": self.rng.get_state(), "order": self.order.cpu().long(),
                    "position": self.position, "num_rows": len(self.rows)}  # fmt: skip
        return {"epoch_rng": self.epoch_state, "position": self.position,
                "num_rows": len(self.rows)}  # fmt: skip

    def load_state_dict(self, state: dict[str, Any], iteration: int = 0) -> str | None:
        """Continue from a saved state: the epoch's starting generator state, or (as saved before)
        the whole order with the generator's state after drawing it.

        A generator state saved on another device type is not set: the generator is re-seeded
        from (seed, iteration) and that device type returned (streams.restore_generator); with
        the whole order saved, the epoch goes on in it, else a new epoch starts. None when the
        state was restored exactly."""
        if state["num_rows"] != len(self.rows):
            raise TextganError(
                f"the corpus has {len(self.rows)} lines but the run was trained on "
                f"{state['num_rows']}: resume with the same corpus"
            )
        if "order" in state:
            moved = restore_generator(self.rng, state["rng"], "data order", self.seed, iteration)
            self.epoch_state = None
            self.order = state["order"].to(self.order.dtype).to(self.rows.device)
            self.position = int(state["position"])
            return moved
        moved = restore_generator(self.rng, state["epoch_rng"], "data order", self.seed, iteration)
        if moved is not None:
            self._new_epoch()
            return moved
        self.epoch_state = self.rng.get_state()
        self.order = self._draw_order()
        self.position = int(state["position"])
        return None
