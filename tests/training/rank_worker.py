"""Launched by test_distributed.py under torchrun: what each rank builds, and whether another
rank waits inside a collective meanwhile (NCCL's watchdog kills one that waits minutes). Rank 0
writes the corpus cache and builds the evaluation slowly. Each rank encodes a corpus in a
writable and one in a read-only folder, then trains with evaluation, and writes rankN.json.
Usage: rank_worker.py CORPUS READ_ONLY_CORPUS OUT_DIR"""

import json
import sys
import time
from pathlib import Path

import torch.distributed as dist

from textgan.cli import end_launched_process
from textgan.config import TrainConfig
from textgan.data import cache
from textgan.training import loop, peers
from textgan.training.distributed import process_group
from textgan.training.state import build_state

CONFIG = dict(dim=8, n_blocks=1, seq_len=12, batch_size=8, critic_iters=1, device="cpu",
              precision="fp32", eval_samples=16)  # fmt: skip
SLOW = 1.0  # seconds rank 0 adds to writing the cache and to building the evaluation


def timed(fn, spans: list, delay: float = 0.0):
    """fn, recording the (start, end) wall-clock time of every call into spans."""

    def wrapped(*args, **kwargs):
        start = time.time()
        try:
            time.sleep(delay)
            return fn(*args, **kwargs)
        finally:
            spans.append((start, time.time()))

    return wrapped


def main() -> None:
    corpus, read_only, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    built, collectives, evaluators = [], [], []

    class CountedEvaluator(loop.Evaluator):
        def __init__(self, *args, **kwargs) -> None:
            evaluators.append(1)
            super().__init__(*args, **kwargs)

    for name in ("barrier", "broadcast", "broadcast_object_list", "all_reduce"):
        setattr(dist, name, timed(getattr(dist, name), collectives))
    peers.POLL_SECONDS = 0.05
    with process_group("cpu") as (world, device):
        if world.is_main:
            cache.save_encoding = timed(cache.save_encoding, built, SLOW)
            CountedEvaluator.__init__ = timed(CountedEvaluator.__init__, built, SLOW)
        loop.Evaluator = CountedEvaluator
        config = TrainConfig(iters=1, eval_every=1, **CONFIG)
        _, encoded = build_state(config, corpus, world=world, device=device, run_id="a")
        _, uncached = build_state(config, read_only, world=world, device=device, run_id="b")
        loop.train(config, corpus, out / "run")
        result = {"cached": encoded.cached, "lines": len(encoded.ids),
                  "read_only_cache": uncached.cache_dir is not None,
                  "read_only_lines": len(uncached.ids), "evaluators": len(evaluators),
                  "built": built, "collectives": collectives}  # fmt: skip
    (out / f"rank{world.rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
    end_launched_process(0)  # no interpreter teardown (see textgan.cli)
