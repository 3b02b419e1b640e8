"""A failure in one process of a torchrun job ends the job instead of hanging it: the process
that fails leaves `rank N: <message>` in the job's store before it exits, and the others, whose
collective or wait then fails (at once when its connections close, after --dist-timeout when it
stopped answering), stop with that line, or with one that says whom they waited for."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import torch.distributed as dist

from textgan.errors import TextganError

FAILED = "failed/rank{rank}"
POLL_SECONDS = 0.5  # how often a waiting process looks at the store
# what gloo's and NCCL's errors say when a peer's connection closed or a collective timed out
_PEER_ERRORS = ("connection closed", "connection reset", "timed out", "timeout", "broken pipe",
                "gloo", "nccl", "socket")  # fmt: skip


class PeerFailed(TextganError):
    """Another process of the job failed, died or stopped answering (exit status 1)."""

    exit_code = 1


@contextlib.contextmanager
def failures_shared(rank: int, size: int, store: dist.Store, timeout: float) -> Iterator[None]:
    """Leave this process's error in the store for the others; turn a collective that failed
    because of another process into a PeerFailed naming it."""
    try:
        yield
    except PeerFailed:
        raise
    except Exception as err:
        if not _from_a_peer(err):
            _report(store, rank, _describe(err))
            raise
        raise peer_failed(store, size, rank, timeout, detail=str(err)) from err
    except KeyboardInterrupt:
        _report(store, rank, "interrupted")
        raise


def _from_a_peer(err: Exception) -> bool:
    if isinstance(err, dist.DistError):
        return True
    text = str(err).lower()
    return isinstance(err, RuntimeError) and any(s in text for s in _PEER_ERRORS)


def _describe(err: Exception) -> str:
    text = str(err).strip().splitlines()
    first = text[0] if text else ""
    return first if isinstance(err, TextganError) else f"{type(err).__name__}: {first}"


def _report(store: dist.Store, rank: int, message: str) -> None:
    with contextlib.suppress(Exception):  # best effort: the store may have gone with its host
        store.set(FAILED.format(rank=rank), f"rank {rank}: {message}")


def reported(store: dist.Store, size: int, but: int = -1) -> str | None:
    """The first `rank N: <message>` a failed process left, if any (`but`: not this rank's)."""
    for rank in range(size):
        key = FAILED.format(rank=rank)
        with contextlib.suppress(Exception):
            if rank != but and store.check([key]):
                return store.get(key).decode()
    return None


def peer_failed(
    store: dist.Store, size: int, rank: int, timeout: float, detail: str = "", waited: str = ""
) -> PeerFailed:
    """The error of a process whose collective or wait failed: the line a failed process left,
    else what it waited for (or the collective's own first line)."""
    if (found := reported(store, size, but=rank)) is not None:
        return PeerFailed(f"stopping: {found}")
    what = waited or "another process"
    first = detail.strip().splitlines()[0][:200] if detail.strip() else ""
    return PeerFailed(f"stopping: {what} failed, died or did not answer within --dist-timeout "
                      f"{timeout:g} s" + (f" ({first})" if first else ""))  # fmt: skip


def wait_for(
    ready: Callable[[], bool], *, timeout: float, failure: Callable[[], PeerFailed]
) -> None:
    """Poll until ready() is true; raise failure() after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise failure()
        time.sleep(POLL_SECONDS)
