"""Launched by test_multinode.py under torchrun: the textgan command line, where one process of
the first attempt kills itself (kill) or stops (stop) after an iteration, as a crashed or hung
worker would. Usage: fault_worker.py kill|stop RANK ITERATION ARGS..."""

import itertools
import os
import signal
import sys
import time
from pathlib import Path

from textgan.cli import main as textgan_main
from textgan.training import loop

SIGNALS = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP}


def main() -> None:
    action, rank, at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    del sys.argv[1:4]
    first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    faulty = first_attempt and int(os.environ["RANK"]) == rank
    readings, train = itertools.count(), loop.train

    def clock() -> float:  # read once before the first iteration, then after each
        if faulty and next(readings) == at:
            Path(f"{action}.pid").write_text(str(os.getpid()))  # torchrun's workers have
            os.kill(os.getpid(), SIGNALS[action])  # sessions of their own: the test ends it
        return time.perf_counter()

    loop.train = lambda *args, **kwargs: train(*args, **kwargs, clock=clock)
    textgan_main()


if __name__ == "__main__":
    main()
