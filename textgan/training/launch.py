"""How the processes of a run start it together while only rank 0 reads the run directory:
rank 0 settles the run (its configuration, whether it resumes, its directory) and sends it to
the others through the job's store before they join the process group; on resume it loads the
checkpoint and broadcasts it (tensors by dist.broadcast), so no other machine needs the file."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from textgan.config import RUNS_ROOT, TrainConfig
from textgan.errors import TextganError
from textgan.rundir.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from textgan.rundir.schema import Checkpoint
from textgan.training import peers
from textgan.training.distributed import World, broadcast
from textgan.training.state import check_resumable

T = TypeVar("T")
# the store key of rank 0's settled run: the nth train() of each process reads the nth (a
# caller's own process group may train several runs in one store)
PLANS = itertools.count()
# a run's configuration: given, or made by rank 0 alone once it knows whether the run resumes
ConfigSource = TrainConfig | Callable[[bool], TrainConfig]


@dataclass(frozen=True)
class Plan:
    """What rank 0 settled, the same on every rank."""

    config: TrainConfig
    resume: bool
    run_dir: Path
    run_id: str  # names this attempt's waits in the store


def settle(
    world: World,
    config: ConfigSource,
    corpus: str | Path,
    run_dir: str | Path | None,
    *,
    resume: bool,
    resume_if_exists: bool,
) -> Plan:
    """Rank 0 decides (resume_if_exists: resume when the run dir holds a checkpoint) and makes
    the configuration; the other ranks receive both through the store, or its error."""
    key = f"plan/{next(PLANS)}"
    if world.is_main:
        try:
            plan = _decide(config, corpus, run_dir, resume, resume_if_exists)
        except TextganError as err:
            _publish(world, key, {"error": f"rank 0: {err}"})
            raise
        _publish(world, key, {"config": plan.config.to_dict(), "resume": plan.resume,
                         "run_dir": str(plan.run_dir), "run_id": plan.run_id})  # fmt: skip
        return plan
    sent = _receive(world, key)
    if "error" in sent:
        raise peers.PeerFailed(f"stopping: {sent['error']}")
    return Plan(TrainConfig.from_dict(sent["config"]), sent["resume"], Path(sent["run_dir"]),
                sent["run_id"])  # fmt: skip


def _decide(
    config: ConfigSource,
    corpus: str | Path,
    run_dir: str | Path | None,
    resume: bool,
    resume_if_exists: bool,
) -> Plan:
    directory = Path(run_dir) if run_dir is not None else default_run_dir(corpus)
    resume = resume or (resume_if_exists and bool(list_checkpoints(directory)))
    made = config(resume) if callable(config) else config
    return Plan(made, resume, directory, uuid.uuid4().hex)


def _publish(world: World, key: str, value: dict[str, Any]) -> None:
    if world.store is not None:
        world.store.set(key, json.dumps(value))


def _receive(world: World, key: str) -> dict[str, Any]:
    store = world.store
    assert store is not None

    def failure() -> peers.PeerFailed:
        return peers.peer_failed(store, world.size, world.rank, world.timeout,
                                 waited="rank 0 (settling the run)")  # fmt: skip

    # rank 0 only reads a config and a checkpoint here: seconds
    peers.wait_for(lambda: store.check([key]), timeout=world.timeout, failure=failure)
    return json.loads(store.get(key).decode())


def default_run_dir(corpus: str | Path, root: str | Path = RUNS_ROOT) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{Path(corpus).stem}-{stamp}"


def on_main(world: World, fn: Callable[..., T], *args: Any) -> T | None:
    """fn's value on rank 0 (None elsewhere); its TextganError is raised on every rank (none
    is left waiting)."""
    message, value = None, None
    if world.is_main:
        try:
            value = fn(*args)
        except TextganError as err:
            message = str(err)
    message = broadcast(message, world)
    if message is not None:
        raise TextganError(message)
    return value


def shared_checkpoint(world: World, device: torch.device, plan: Plan) -> Checkpoint | None:
    """A resumed run's newest checkpoint, loaded and checked against the configuration by rank
    0, on every rank (on the CPU)."""
    if not plan.resume:
        return None

    def load() -> dict[str, Any]:
        saved = load_checkpoint(latest_checkpoint(plan.run_dir))
        check_resumable(TrainConfig.from_dict(saved.config), plan.config)
        return saved.to_payload()

    payload = broadcast_payload(on_main(world, load), world, device)
    return Checkpoint.from_payload(payload, f"rank 0's checkpoint of {plan.run_dir}")


def broadcast_payload(payload: Any, world: World, device: torch.device) -> Any:
    """Rank 0's nested dicts and lists of tensors and plain values, on every rank: the plain
    values as one object, the tensors by dist.broadcast, one flat buffer per dtype (on the
    group's device: NCCL sends only GPU tensors), back on the CPU."""
    if not world.distributed:
        return payload
    tensors: list[torch.Tensor] = []
    skeleton = broadcast(_strip(payload, tensors) if world.is_main else None, world)
    slots = _slots(skeleton)
    if not world.is_main:
        tensors = [torch.empty(0)] * len(slots)
    for dtype in sorted({slot[2] for slot in slots}, key=str):
        chosen = [slot for slot in slots if slot[2] == dtype]
        sizes = [int(torch.Size(slot[1]).numel()) for slot in chosen]
        if world.is_main:
            flat = torch.cat([tensors[slot[0]].reshape(-1) for slot in chosen]).to(device)
        else:
            flat = torch.empty(sum(sizes), dtype=dtype, device=device)  # (n,)
        dist.broadcast(flat, src=0)
        if not world.is_main:
            for slot, part in zip(chosen, flat.cpu().split(sizes), strict=True):
                tensors[slot[0]] = part.view(slot[1]).clone()  # its own storage (RNG states)
    return payload if world.is_main else _fill(skeleton, tensors)


_TENSOR = "__textgan_tensor__"


def _strip(value: Any, tensors: list[torch.Tensor]) -> Any:
    """value with each tensor replaced by {_TENSOR: (index, shape, dtype)}."""
    if isinstance(value, torch.Tensor):
        tensors.append(value.detach())
        return {_TENSOR: (len(tensors) - 1, tuple(value.shape), value.dtype)}
    if isinstance(value, dict):
        return {k: _strip(v, tensors) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_strip(v, tensors) for v in value)
    return value


def _slots(value: Any) -> list[tuple[int, tuple[int, ...], torch.dtype]]:
    if isinstance(value, dict):
        if _TENSOR in value:
            return [value[_TENSOR]]
        return [slot for v in value.values() for slot in _slots(v)]
    if isinstance(value, list | tuple):
        return [slot for v in value for slot in _slots(v)]
    return []


def _fill(value: Any, tensors: list[torch.Tensor]) -> Any:
    if isinstance(value, dict):
        if _TENSOR in value:
            return tensors[value[_TENSOR][0]]
        return {k: _fill(v, tensors) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_fill(v, tensors) for v in value)
    return value
