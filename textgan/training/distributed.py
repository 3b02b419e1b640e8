"""Several processes (torchrun, on one machine or several) training one run, data-parallel.

Every rank draws the GLOBAL batch's data order, noise and interpolation α from identically
seeded generators and keeps its own slice, so N ranks with batch B compute exactly what one
process computes with batch N·B; averaging the gradients over the ranks then makes the update
identical.

The processes meet through torchrun's key-value store, under a prefix of their own for each
restart attempt (keys a failed attempt left would make the next one fail to connect or hang);
every wait for another process lasts at most World.timeout seconds (--dist-timeout), and a
process that fails leaves `rank N: <message>` there for the others to say (peers.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from textgan.config import DIST_TIMEOUT
from textgan.errors import TextganError
from textgan.runtime.device import resolve_device
from textgan.training import peers


@dataclass(frozen=True)
class World:
    """This process's place among the processes of a run (a single process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    launched: bool = False  # by torchrun: the process joins a process group, even alone
    node: int = 0  # GROUP_RANK: torchrun's node rank, the machine this process runs on
    attempt: int = 0  # TORCHELASTIC_RESTART_COUNT: how often torchrun restarted the workers
    timeout: float = DIST_TIMEOUT  # seconds any wait for another process lasts at most
    store: dist.Store | None = field(default=None, compare=False, repr=False)  # textgan's keys

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_node_leader(self) -> bool:
        """Local rank 0: the process that builds what its machine caches on disk."""
        return self.local_rank == 0

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
    """The torchrun variables WORLD_SIZE, RANK, LOCAL_RANK, GROUP_RANK and
    TORCHELASTIC_RESTART_COUNT (absent: one process, no group)."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
        node = int(os.environ.get("GROUP_RANK", "0"))
        attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    except ValueError as err:
        raise TextganError(f"bad torchrun environment: {err}") from err
    return World(rank, size, local_rank, launched="WORLD_SIZE" in os.environ, node=node,
                 attempt=attempt)  # fmt: skip


@contextlib.contextmanager
def joined(timeout: float = DIST_TIMEOUT) -> Iterator[World]:
    """This process's World, connected to its torchrun job's store when launched by torchrun
    (before any process group: what rank 0 alone can know, e.g. a resumed run's configuration,
    travels through it first). An error inside is left in the store as `rank N: <message>`;
    a collective or wait that fails because another process failed becomes a PeerFailed that
    says which rank failed and why, when that rank said (peers.py)."""
    world = dataclasses.replace(world_from_env(), timeout=timeout)
    if not world.distributed:
        yield world
        return
    if dist.is_initialized():  # a caller's own group: its store, and its errors
        store = dist.distributed_c10d._get_default_store()
        yield dataclasses.replace(world, store=dist.PrefixStore("textgan", store))
        return
    world = dataclasses.replace(world, store=_job_store(world))
    with peers.failures_shared(world.rank, world.size, world.store, world.timeout):
        yield world


def _job_store(world: World) -> dist.Store:
    """A client of torchrun's store (rank 0 hosts it without torchrun's agent), this restart
    attempt's keys under their own prefix."""
    try:
        store, _, _ = next(dist.rendezvous("env://", world.rank, world.size,
                                           timeout=timedelta(seconds=world.timeout)))  # fmt: skip
    except (ValueError, RuntimeError) as err:
        raise TextganError(f"cannot join the torchrun process group: {err}") from err
    return dist.PrefixStore(f"textgan/attempt{world.attempt}", store)


@contextlib.contextmanager
def process_group(
    device_name: str, world: World | None = None, timeout: float | None = None
) -> Iterator[tuple[World, torch.device]]:
    """Join the run's process group when launched by torchrun, also as its only process (NCCL
    on CUDA, bound to this process's GPU; gloo on CPU), its collectives bounded by the world's
    timeout (or this one). world: joined() already (else joined here).

    Yields this process's World and its device (cuda:LOCAL_RANK under CUDA).
    """
    with contextlib.ExitStack() as stack:
        if world is None:
            world = stack.enter_context(joined(timeout or DIST_TIMEOUT))
        elif timeout is not None:
            world = dataclasses.replace(world, timeout=timeout)
        device = resolve_device(device_name)
        if not world.distributed or dist.is_initialized():
            yield world, device
            return
        if device.type == "cuda":
            device = _local_gpu(world)
            torch.cuda.set_device(device)
        _init_group(world, device)
        try:
            with peers.failures_shared(world.rank, world.size, world.store, world.timeout):
                yield world, device  # its errors said with this timeout
        finally:
            dist.destroy_process_group()


def _init_group(world: World, device: torch.device) -> None:
    """Join the group through this attempt's keys; its collectives time out after the world's
    timeout (NCCL's device_id: its communicators and barriers use this GPU)."""
    assert world.store is not None
    world.store.set_timeout(timedelta(seconds=world.timeout))
    options: dict[str, Any] = dict(store=dist.PrefixStore("group", world.store), rank=world.rank,
                                   world_size=world.size,
                                   timeout=timedelta(seconds=world.timeout))  # fmt: skip
    try:
        if device.type == "cuda":
            dist.init_process_group("nccl", device_id=device, **options)
        else:
            dist.init_process_group("gloo", **options)
    except (ValueError, RuntimeError) as err:
        raise TextganError(f"cannot join the torchrun process group: {err}") from err


def _local_gpu(world: World) -> torch.device:
    if world.local_rank >= torch.cuda.device_count():
        raise TextganError(
            f"LOCAL_RANK {world.local_rank}: this machine has {torch.cuda.device_count()} GPU(s)"
        )
    return torch.device("cuda", world.local_rank)


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


def all_values(value: Any, world: World) -> list[Any]:
    """Every rank's value, by rank, on every rank."""
    if not world.distributed:
        return [value]
    values: list[Any] = [None] * world.size
    dist.all_gather_object(values, value)
    return values


def any_rank(flags: list[bool], world: World, device: torch.device) -> list[bool]:
    """Each flag OR-ed over all ranks (so every rank stops at the same iteration)."""
    if not world.distributed:
        return flags
    tensor = torch.tensor(flags, dtype=torch.int32, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [bool(v) for v in tensor.tolist()]
