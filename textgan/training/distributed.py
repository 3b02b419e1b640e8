"""Several processes (torchrun) training one run, data-parallel.

Every rank draws the GLOBAL batch's data order, noise and interpolation α from identically
seeded generators and keeps its own slice, so N ranks with batch B compute exactly what one
process computes with batch N·B; averaging the gradients over the ranks then makes the update
identical.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from textgan.errors import TextganError
from textgan.training.device import resolve_device


@dataclass(frozen=True)
class World:
    """This process's place among the processes of a run (a single process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a global batch (size·B, ...) → (B, ...)."""
        per_rank = batch.shape[0] // self.size
        return batch[self.rank * per_rank : (self.rank + 1) * per_rank]


SINGLE_PROCESS = World()


def world_from_env() -> World:
    """The torchrun variables WORLD_SIZE, RANK, LOCAL_RANK (absent: one process)."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as err:
        raise TextganError(f"bad torchrun environment: {err}") from err
    return World(rank, size, local_rank)


@contextlib.contextmanager
def process_group(device_name: str) -> Iterator[tuple[World, torch.device]]:
    """Join the run's process group when launched by torchrun (NCCL on CUDA, gloo on CPU).

    Yields this process's World and its device (cuda:LOCAL_RANK under CUDA).
    """
    world = world_from_env()
    device = resolve_device(device_name)
    if not world.distributed or dist.is_initialized():
        yield world, device
        return
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield world, device
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def main_first(world: World) -> Iterator[None]:
    """Rank 0 runs the block first (e.g. writing a cache), the other ranks after it."""
    if world.distributed and not world.is_main:
        dist.barrier()
    try:
        yield
    finally:
        if world.distributed and world.is_main:
            dist.barrier()


def average_gradients(module: nn.Module, world: World) -> None:
    """Replace each parameter's .grad by its mean over the ranks (one all-reduce)."""
    if not world.distributed:
        return
    grads = [p.grad for p in module.parameters()]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= world.size
    for grad, mean in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        grad.copy_(mean.view_as(grad))


def broadcast(value: Any, world: World) -> Any:
    """Rank 0's value, on every rank."""
    if not world.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def any_rank(flags: list[bool], world: World, device: torch.device) -> list[bool]:
    """Each flag OR-ed over all ranks (so every rank stops at the same iteration)."""
    if not world.distributed:
        return flags
    tensor = torch.tensor(flags, dtype=torch.int32, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [bool(v) for v in tensor.tolist()]
