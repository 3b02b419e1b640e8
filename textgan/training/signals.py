"""Ctrl-C and SIGTERM while training: the first asks to stop after the current iteration (and
its checkpoint), a second interrupts at once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from textgan.errors import TrainingInterrupted


@contextlib.contextmanager
def stop_signals() -> Iterator[list[int]]:
    """While training: the first SIGINT/SIGTERM asks to stop after the current iteration (and its
    checkpoint); a second one interrupts at once. Only the main thread can install handlers."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, frame: object) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def interrupted(received: list[int], iteration: int, checkpoint: Path) -> TrainingInterrupted:
    """The error that ends a run stopped by the first signal received (SIGTERM: another rank's)."""
    signum = received[0] if received else signal.SIGTERM
    return TrainingInterrupted(
        f"stopped by {signal.Signals(signum).name} at iteration {iteration}; "
        f"checkpoint {checkpoint} written (continue with --resume)",
        signum,
    )
