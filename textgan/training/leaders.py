"""What one process builds while others wait for it outside any collective (which NCCL's
watchdog would end): the corpus cache, once per machine; the evaluation's references, once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from textgan.training import peers
from textgan.training.distributed import World

T = TypeVar("T")


def main_first(
    world: World,
    build: Callable[[], T],
    otherwise: Callable[[], T],
    find: Callable[[], T | None] = lambda: None,
    *,
    key: str,
    per_node: bool = False,
) -> T:
    """Rank 0 (per_node: each machine's local rank 0) runs build (e.g. encoding a corpus and
    writing its cache: minutes for a full corpus); the others (on its machine) wait until `find`
    finds what it made (e.g. the cache's manifest on disk) and take that, or until the builder
    is done, and then run otherwise.

    key names this build in the store: the same on every rank, and another for every build
    (train() makes each from a run id that rank 0 draws).

    They wait outside any collective, checking the store without blocking, for world.timeout
    seconds (--dist-timeout) at most: then (the builder died, stopped, or builds for longer) they
    raise PeerFailed. (A heartbeat thread of the builder's, beating in the store, made gloo's
    teardown abort the process at exit.)
    """
    if not world.distributed:
        return build()
    store, name = world.store, f"main_first/{key}" + (f"/node{world.node}" if per_node else "")
    assert store is not None
    done = name
    if world.is_node_leader if per_node else world.is_main:
        try:
            return build()
        finally:
            store.set(done, "1")
    builder = f"local rank 0 of node {world.node}" if per_node else "rank 0"
    found: list[T] = []

    def ready() -> bool:
        finished = store.check([done])
        if (value := find()) is not None:
            found.append(value)
        return finished or bool(found)

    def failure() -> peers.PeerFailed:
        return peers.peer_failed(store, world.size, world.rank, world.timeout,
                                 waited=f"{builder} (building {key})")  # fmt: skip

    peers.wait_for(ready, timeout=world.timeout, failure=failure)
    return found[0] if found else otherwise()
