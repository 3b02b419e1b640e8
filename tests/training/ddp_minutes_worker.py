"""Launched by test_distributed.py under torchrun: train with --minutes 0.5 while each rank's
training clock runs at its own speed (rank 0: 10 s a reading, the others 1000 s), and write the
iteration this rank stopped at. Usage: ddp_minutes_worker.py CORPUS RUN_DIR OUT_DIR"""

import itertools
import sys
from pathlib import Path

from ddp_worker import DDP_CONFIG

from textgan.cli import end_launched_process
from textgan.config import TrainConfig
from textgan.training import loop
from textgan.training.distributed import world_from_env


def main() -> None:
    corpus, run_dir, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    rank = world_from_env().rank
    ticks, step = itertools.count(), 10.0 if rank == 0 else 1000.0
    config = TrainConfig(batch_size=8, iters=100, checkpoint_every=50, minutes=0.5, **DDP_CONFIG)
    result = loop.train(config, corpus, run_dir, clock=lambda: step * next(ticks))
    (out / f"stopped{rank}.txt").write_text(f"{result.iteration} {result.stopped}")


if __name__ == "__main__":
    main()
    end_launched_process(0)  # no interpreter teardown (see textgan.cli)
