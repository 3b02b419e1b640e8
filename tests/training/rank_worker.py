"""Launched by test_distributed.py under torchrun: what each rank builds. No barrier may run
(NCCL's watchdog kills one that waits minutes); rank 0 writes the corpus cache slowly. Each rank
encodes a corpus in a writable and one in a read-only folder, then trains with evaluation, and
writes rankN.json. Usage: rank_worker.py CORPUS READ_ONLY_CORPUS OUT_DIR"""

import json
import sys
import time
from pathlib import Path

import torch.distributed as dist

from textgan.config import TrainConfig
from textgan.data import cache
from textgan.training import distributed, loop
from textgan.training.distributed import process_group
from textgan.training.state import build_state

CONFIG = dict(dim=8, n_blocks=1, seq_len=12, batch_size=8, critic_iters=1, device="cpu",
              precision="fp32", eval_samples=16)  # fmt: skip


def forbidden_barrier(*args, **kwargs) -> None:
    raise RuntimeError("a barrier ran")


def slow_save(save):
    def wrapped(*args, **kwargs):
        time.sleep(1.0)  # the other rank meanwhile looks for the manifest
        return save(*args, **kwargs)

    return wrapped


def main() -> None:
    corpus, read_only, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    evaluators = []

    class CountedEvaluator(loop.Evaluator):
        def __init__(self, *args, **kwargs) -> None:
            evaluators.append(1)
            super().__init__(*args, **kwargs)

    dist.barrier = forbidden_barrier
    loop.Evaluator = CountedEvaluator
    distributed.POLL_SECONDS = 0.05
    with process_group("cpu") as (world, device):
        if world.is_main:
            cache.save_encoding = slow_save(cache.save_encoding)
        config = TrainConfig(iters=1, eval_every=1, **CONFIG)
        _, encoded = build_state(config, corpus, world=world, device=device)
        _, uncached = build_state(config, read_only, world=world, device=device)
        loop.train(config, corpus, out / "run")
        result = {"cached": encoded.cached, "lines": len(encoded.ids),
                  "read_only_cache": uncached.cache_dir is not None,
                  "read_only_lines": len(uncached.ids), "evaluators": len(evaluators)}  # fmt: skip
    (out / f"rank{world.rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
