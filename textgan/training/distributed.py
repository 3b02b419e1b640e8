"""Several processes (torchrun) training one run, data-parallel.

Every rank draws the GLOBAL batch's data order, noise and interpolation α from identically
seeded generators and keeps its own slice, so N ranks with batch B compute exactly what one
process computes with batch N·B; averaging the gradients over the ranks then makes the update
identical.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from textgan.errors import TextganError
from textgan.runtime.device import resolve_device

T = TypeVar("T")
POLL_SECONDS = 0.5  # how often the other ranks look for what rank 0 builds


@dataclass(frozen=True)
class World:
    """This process's place among the processes of a run (a single process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    launched: bool = False  # by torchrun: the process joins a process group, even alone

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """In a process group: its collectives run (with one process too, so that a 1-GPU
        torchrun exercises the path that several GPUs take)."""
        return self.launched or self.size > 1

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a global batch (size·B, ...) → (B, ...)."""
        per_rank = batch.shape[0] // self.size
        return batch[self.rank * per_rank : (self.rank + 1) * per_rank]


SINGLE_PROCESS = World()


def world_from_env() -> World:
    """The torchrun variables WORLD_SIZE, RANK, LOCAL_RANK (absent: one process, no group)."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as err:
        raise TextganError(f"bad torchrun environment: {err}") from err
    return World(rank, size, local_rank, launched="WORLD_SIZE" in os.environ)


@contextlib.contextmanager
def process_group(device_name: str) -> Iterator[tuple[World, torch.device]]:
    """Join the run's process group when launched by torchrun, also as its only process (NCCL
    on CUDA, bound to this process's GPU; gloo on CPU).

    Yields this process's World and its device (cuda:LOCAL_RANK under CUDA).
    """
    world = world_from_env()
    device = resolve_device(device_name)
    if not world.distributed or dist.is_initialized():
        yield world, device
        return
    if device.type == "cuda":
        device = _local_gpu(world)
        torch.cuda.set_device(device)
    try:
        if device.type == "cuda":  # device_id: NCCL's communicators and barriers use this GPU
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
    except (ValueError, RuntimeError) as err:
        raise TextganError(f"cannot join the torchrun process group: {err}") from err
    try:
        yield world, device
    finally:
        dist.destroy_process_group()


def _local_gpu(world: World) -> torch.device:
    if world.local_rank >= torch.cuda.device_count():
        raise TextganError(
            f"LOCAL_RANK {world.local_rank}: this machine has {torch.cuda.device_count()} GPU(s)"
        )
    return torch.device("cuda", world.local_rank)


def main_first(
    world: World,
    build: Callable[[], T],
    otherwise: Callable[[], T],
    find: Callable[[], T | None] = lambda: None,
    *,
    key: str,
) -> T:
    """Rank 0 runs build (e.g. encoding a corpus and writing its cache: minutes for a full
    corpus); the other ranks wait until `find` finds what it made (e.g. the cache's manifest on
    disk) and take that, or until rank 0 is done, and then run otherwise.

    key names this build in the store: the same on every rank, and another for every build
    (train() makes each from a run id that rank 0 draws).

    They wait outside any collective, which NCCL's watchdog would kill after its timeout: the
    process group's key-value store, checked without blocking, says when rank 0 is done (also
    when it failed, or could not write what `find` looks for).
    """
    if not world.distributed:
        return build()
    done = f"textgan/main_first/{key}"
    store = dist.distributed_c10d._get_default_store()
    if world.is_main:
        try:
            return build()
        finally:
            store.set(done, "1")
    while True:
        finished = store.check([done])
        if (found := find()) is not None:
            return found
        if finished:
            return otherwise()
        time.sleep(POLL_SECONDS)


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
