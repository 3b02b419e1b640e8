"""Time per iteration of one process against two simulated nodes (torchrun --nnodes 2
--node-rank 0|1 on localhost, one process each, gloo), at --preset cpu, and the part of it
spent in the gradient all-reduce. Both nodes share this machine's cores: the figures show the
cost of the collectives, not a speed-up. Usage (from the repository root):

    OMP_NUM_THREADS=1 python bench/multinode.py CORPUS [--iters 40] [--skip 10]
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from textgan.config import TrainConfig, resolve_config
from textgan.training import loop, steps


def worker(corpus: str, iters: int, out: Path) -> None:
    """Train --preset cpu for iters iterations; write per-iteration and all-reduce seconds."""
    reduce_seconds, ends = [], []
    average = steps.average_gradients

    def timed_average(module, world) -> None:
        start = time.perf_counter()
        average(module, world)
        reduce_seconds.append(time.perf_counter() - start)

    steps.average_gradients = timed_average
    # the former cpu preset (5 critic steps, no average), as measured
    config = resolve_config("cpu", "cpu", iters=iters, eval_every=0, checkpoint_every=iters,
                            device="cpu", critic_iters=5, g_ema=0.0)  # fmt: skip
    with tempfile.TemporaryDirectory() as run_dir:
        loop.train(config, corpus, Path(run_dir) / "run",
                   on_step=lambda stats: ends.append(time.perf_counter()))  # fmt: skip
    rank = os.environ.get("RANK", "0")
    if rank == "0":
        out.write_text(json.dumps({"ends": ends, "reduce": reduce_seconds,
                                   "critic_iters": config.critic_iters}))  # fmt: skip


def per_iteration(result: dict, skip: int) -> tuple[float, float]:
    ends = result["ends"][skip:]
    seconds = (ends[-1] - ends[0]) / (len(ends) - 1)
    calls = result["critic_iters"] + 1  # one all-reduce per critic step and generator step
    reduce = sum(result["reduce"][skip * calls :]) / (len(result["reduce"]) / calls - skip)
    return seconds, reduce


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus")
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--skip", type=int, default=10, help="first iterations not timed")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.corpus, args.iters, args.worker)
        return
    corpus = str(Path(args.corpus).resolve())
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "GLOO_SOCKET_IFNAME": "lo"}  # fmt: skip
    me = [str(Path(__file__).resolve()), corpus, "--iters", str(args.iters)]
    with tempfile.TemporaryDirectory() as tmp:
        one, two = Path(tmp) / "one.json", Path(tmp) / "two.json"
        subprocess.run([sys.executable, *me, "--worker", str(one)], env=env, check=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
                                   "--node-rank", str(rank), "--nproc-per-node", "1",
                                   "--master-addr", "127.0.0.1", "--master-port", str(port),
                                   *me, "--worker", str(two)], env=env, cwd=tmp)
                 for rank in (0, 1)]  # fmt: skip
        if any(node.wait() for node in nodes):
            sys.exit("a node failed")
        results = {"1 process": json.loads(one.read_text()),
                   "2 nodes": json.loads(two.read_text())}  # fmt: skip
    batch = TrainConfig().batch_size
    for name, result in results.items():
        seconds, reduce = per_iteration(result, args.skip)
        print(f"{name}: {seconds * 1000:.0f} ms per iteration (batch {batch} per process), "
              f"{reduce * 1000:.1f} ms of it in the gradient all-reduces")  # fmt: skip


if __name__ == "__main__":
    main()
