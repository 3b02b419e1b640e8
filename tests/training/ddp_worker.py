"""Launched by test_distributed.py under torchrun: train a few iterations, save this rank's
weights. Usage: ddp_worker.py CORPUS OUT_DIR ITERATIONS BATCH_SIZE"""

import sys
from pathlib import Path

import torch

from textgan.cli import end_launched_process
from textgan.config import TrainConfig
from textgan.training.distributed import process_group
from textgan.training.state import build_state
from textgan.training.steps import make_engine, train_iteration

DDP_CONFIG = dict(dim=8, n_blocks=1, seq_len=12, critic_iters=2, device="cpu", eval_every=0,
                  precision="fp32", g_ema=0.9)  # fmt: skip


def main() -> None:
    corpus, out, iters, batch = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    config = TrainConfig(batch_size=batch, iters=1000, **DDP_CONFIG)
    with process_group("cpu") as (world, device):
        state, _ = build_state(config, corpus, world=world, device=device, run_id="ddp")
        engine = make_engine(state)
        for _ in range(iters):
            train_iteration(state, engine)
        weights = {"generator": state.generator.state_dict(), "critic": state.critic.state_dict(),
                   "generator_ema": state.generator_ema.state_dict()}  # fmt: skip
        torch.save(weights, out / f"rank{world.rank}.pt")


if __name__ == "__main__":
    main()
    end_launched_process(0)  # no interpreter teardown (see textgan.cli)
